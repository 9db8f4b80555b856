//! The library behind the `glmix` command-line tool: model conversion, import, inspection and the
//! desktop runner. The binary is a thin argument parser over these modules.

pub mod bench;
pub mod config;
pub mod convert;
pub mod eval;
pub mod generate;
pub mod inspect;
pub mod llama2c;
pub mod quantize;
pub mod random;
pub mod report;
pub mod rwkv;
pub mod tasks;
pub mod vocab;
pub mod writer;
