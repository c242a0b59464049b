//! wolfeo-bulk: moves contacts between CSV files and the Wolfeo API.

pub mod api;
pub mod sandbox;
pub mod validate;
