//! Tags and `--excel` cells survive export -> import: names holding the separators people use
//! (`,` `;` `|` `"`) come back as exactly the same tags in an empty sandbox, and an `--excel`
//! export imports back to the original values.

use std::collections::{BTreeMap, BTreeSet};

use wolfeo_bulk::sandbox::SandboxHandle;

use crate::harness::{Env, bin, sandbox, unlimited};

/// First name, last name and tag names of one stored contact.
type Stored = (Option<String>, Option<String>, BTreeSet<String>);

/// email -> what the sandbox stores for it.
fn stored(sb: &SandboxHandle) -> BTreeMap<String, Stored> {
    let names: BTreeMap<u64, String> = sb.tags().into_iter().map(|t| (t.id, t.name)).collect();
    sb.contacts()
        .into_iter()
        .map(|c| {
            let tags = c
                .tags
                .unwrap_or_default()
                .iter()
                .map(|id| names[id].clone())
                .collect();
            (c.email, (c.first_name, c.last_name, tags))
        })
        .collect()
}

fn import(sb: &SandboxHandle, env: &Env, name: &str) {
    bin(sb)
        .args(["import", "--rate", "unlimited", "--create-missing-tags"])
        .arg(env.path(name))
        .assert()
        .code(0);
}

#[test]
fn tag_names_with_separators_and_excel_cells_round_trip() {
    let env = Env::new();
    let source = sandbox(unlimited());
    // Tags created through import's own quoted-list reading.
    env.write(
        "seed.csv",
        "email,first_name,last_name,tags\n\
         a@ex.com,Ann,-Smith,\"\"\"Paris, France\"\",\"\"a|b;c\"\",\"\"say \"\"\"\"hi\"\"\"\"\"\"\"\n\
         b@ex.com,=Bob,@home,\"\"\"Newsletter\"\",\"\"Paris, France\"\"\"\n\
         c@ex.com,+33 6,'quoted,\n",
    );
    import(&source, &env, "seed.csv");
    let want = stored(&source);
    let a_tags = &want["a@ex.com"].2;
    assert_eq!(
        a_tags,
        &BTreeSet::from(["Paris, France".into(), "a|b;c".into(), "say \"hi\"".into()]),
        "seeded as written"
    );

    for excel in [false, true] {
        let out = if excel { "excel.csv" } else { "plain.csv" };
        let mut export = bin(&source);
        export.args([
            "export",
            "--rate",
            "unlimited",
            "--with-tags",
            "names",
            "-o",
        ]);
        export.arg(env.path(out));
        if excel {
            export.arg("--excel");
        }
        export.assert().code(0);
        if excel {
            let text = std::fs::read_to_string(env.path(out)).unwrap();
            assert!(text.contains("'-Smith") && text.contains("'=Bob"), "{text}");
        }
        let target = sandbox(unlimited());
        import(&target, &env, out);
        assert_eq!(stored(&target), want, "--excel: {excel}");
    }
}
