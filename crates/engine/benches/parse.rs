//! Parser and aggregation throughput on the seed's lines (placeholder replaced below).
fn main() {}
