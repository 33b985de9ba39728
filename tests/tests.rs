//! Integration tests: one test binary, one module per area (golden reports, input errors,
//! snapshot layouts, the command line). Golden files are re-blessed with `BLESS=1 cargo test`.

#[path = "suite/cli.rs"]
mod cli;
#[path = "suite/common.rs"]
mod common;
#[path = "suite/delivery.rs"]
mod delivery;
#[path = "suite/errors.rs"]
mod errors;
#[path = "suite/faults.rs"]
mod faults;
#[path = "suite/fidelity.rs"]
mod fidelity;
#[path = "suite/golden.rs"]
mod golden;
#[path = "suite/lambda.rs"]
mod lambda;
#[path = "suite/layout.rs"]
mod layout;
#[path = "suite/live.rs"]
mod live;
#[path = "suite/s3.rs"]
mod s3;
#[path = "suite/shard.rs"]
mod shard;
#[path = "suite/summary.rs"]
mod summary;
#[path = "suite/truth.rs"]
mod truth;
