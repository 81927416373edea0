//! Simulator throughput: readings formatted into memory, the cost `simulate --output FILE` pays per
//! reading before the (buffered, large-block) write. `cargo bench -p iotstream`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use iotstream::simulator::{Clock, Profile, Simulator, SimulatorConfig};
use iotstream_engine::EventTime;

const BATCH: u64 = 10_000;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate");
    group.throughput(Throughput::Elements(BATCH));
    let cases = [
        ("seed_fleet", 2106, Profile::Seed),
        ("million_sensors", 1_000_000, Profile::Seed),
        ("climate_fleet", 2106, Profile::Climate),
    ];
    for (name, sensors, profile) in cases {
        let config = SimulatorConfig {
            seed: Some(1),
            sensors,
            profile,
            clock: Clock::Simulated { start: EventTime(1_479_302_799_000_000), interval_micros: 1000 },
            disorder: None,
            count: None,
        };
        let mut simulator = Simulator::new(&config);
        let mut buffer = Vec::with_capacity(BATCH as usize * 200);
        group.bench_function(name, |b| {
            b.iter(|| {
                buffer.clear();
                simulator.fill(&mut buffer, BATCH);
                black_box(buffer.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
