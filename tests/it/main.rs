//! The one integration-test binary; each module covers one area against a real sandbox.

mod sandbox;
