//! Placeholder
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {}
pub struct SandboxHandle;
pub struct Config;
impl Default for Config {
    fn default() -> Self {
        Config
    }
}
pub fn spawn(_: Config) -> std::io::Result<SandboxHandle> {
    unimplemented!()
}
impl SandboxHandle {
    pub fn base_url(&self) -> String {
        String::new()
    }
    pub fn api_key(&self) -> &str {
        ""
    }
}
pub fn run(_: &SandboxArgs) -> anyhow::Result<()> {
    Ok(())
}
