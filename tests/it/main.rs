//! The one integration-test binary: every module drives the real binary or the library
//! against an in-process sandbox on 127.0.0.1:0.

mod accounts;
mod budget;
mod cli;
mod consent;
mod custom;
mod dupes;
mod engine;
mod export;
mod harness;
mod hostile;
mod import;
mod journal;
mod misbehaving;
mod oracle;
mod outputs;
mod resilience;
mod roundtrip;
mod sandbox;
mod secrets;
mod sheets;
mod streams;
mod verify;
