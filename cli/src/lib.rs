//! The parts of `kpl` that read outside input as pure functions (the
//! certificate import), shared by the binary and the fuzz targets.

pub mod import;
