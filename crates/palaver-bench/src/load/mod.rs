//! The load generator's shared parts: the wire client, the dialects, stamps, histograms,
//! process readings, native setup, multi-process shards and reports. The workloads
//! (`fanout`, `idle`, …) are sibling modules of `verify` and use these.

pub mod caller;
pub mod common;
pub mod dialect;
pub mod hist;
pub mod progress;
pub mod seen;
pub mod shard;
pub mod stamp;
pub mod state;
pub mod sys;
pub mod wire;
