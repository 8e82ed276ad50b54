//! Stand-alone driver for the bench, for trying it without the `herald`
//! binary: `cargo run -p herald-bench --example bench -- put --endpoint ...`.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "bench", about = "Herald S3 load generator")]
struct Cli {
    #[command(flatten)]
    bench: herald_bench::BenchArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    herald_bench::run(Cli::parse().bench).await
}
