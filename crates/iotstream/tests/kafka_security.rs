//! `--kafka-option` against a real TLS listener (Debian's stunnel4 in front of Tansu, see
//! `tests/common/secure_kafka.rs`): TLS with the broker's CA works end to end and a certificate
//! of another CA is refused; SASL over TLS, SCRAM-SHA-512 (Tansu's own) and PLAIN (from a small
//! test-side authenticator in front of Tansu, whose build lacks it), works with the right
//! password, a wrong one is refused, and the password never reaches a log line or an error.

#![cfg(feature = "kafka")]

mod common;

use std::process::Output;

use common::secure_kafka::SecureBroker;
use common::{bin, serial};
use serde_json::Value;

/// `iotstream ARGS` with `--kafka-option` for each of `options`.
fn with_options(args: &[&str], options: &[String]) -> Output {
    let mut command = bin();
    command.args(args);
    for option in options {
        command.args(["--kafka-option", option]);
    }
    command.output().expect("run iotstream")
}

fn succeeded(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// Produces 2,000 readings through `options`, and reads them back with `analyze --once`.
fn round_trip(broker: &SecureBroker, options: &[String]) -> String {
    let address = broker.address.as_str();
    let simulate = ["simulate", "2000", "--seed", "4", "--kafka", address, "--topic", "secure", "-v"];
    let mut logged = succeeded(&with_options(&simulate, options));
    let analyze = ["analyze", "--kafka", address, "--topic", "secure", "--once", "--format", "jsonl", "-v"];
    let out = with_options(&analyze, options);
    logged += &succeeded(&out);
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["messages"], 2000, "{result}");
    logged
}

/// A run through `options` that the broker must refuse: it fails, says it cannot reach Kafka, and
/// reads nothing.
fn refused(broker: &SecureBroker, options: &[String]) -> String {
    let analyze = ["analyze", "--kafka", &broker.address, "--topic", "secure", "--once", "--format", "jsonl"];
    let out = with_options(&analyze, options);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("cannot reach Kafka"), "{stderr}");
    stderr
}

#[test]
fn tls_with_the_brokers_ca_works_and_another_ca_is_refused() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = common::self_signed(dir.path(), "broker");
    let (other, _) = common::self_signed(dir.path(), "other");
    let broker = SecureBroker::start(&certificate, &key, &[]);
    let ca = |path: &std::path::Path| {
        vec!["security.protocol=ssl".to_owned(), format!("ssl.ca.location={}", path.display())]
    };
    round_trip(&broker, &ca(&certificate));
    // Plain text to the TLS port, and TLS with another CA: refused.
    refused(&broker, &[]);
    refused(&broker, &ca(&other));
}

/// SASL over TLS with `mechanism`: the right password reads and writes, the options are logged
/// with the password hidden; TLS without SASL and a wrong password are refused.
fn sasl_over_tls(broker: &SecureBroker, certificate: &std::path::Path, mechanism: &str, secret: &str) {
    let options = |password: &str| {
        vec![
            "security.protocol=sasl_ssl".to_owned(),
            format!("ssl.ca.location={}", certificate.display()),
            format!("sasl.mechanism={mechanism}"),
            "sasl.username=fleet".to_owned(),
            format!("sasl.password={password}"),
        ]
    };
    let logged = round_trip(broker, &options(secret));
    assert!(logged.contains("sasl.password=***"), "the options are shown, the password hidden:\n{logged}");
    assert!(!logged.contains(secret), "the password was logged:\n{logged}");
    // TLS without SASL, and a wrong password: refused, and the wrong password is not shown either.
    refused(
        broker,
        &["security.protocol=ssl".to_owned(), format!("ssl.ca.location={}", certificate.display())],
    );
    let stderr = refused(broker, &options("wrong-pw-7730"));
    assert!(!stderr.contains("wrong-pw-7730"), "{stderr}");
}

#[test]
fn sasl_scram_over_tls_takes_the_right_password_only_and_never_logs_it() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = common::self_signed(dir.path(), "broker");
    let secret = "scram-pw-5521";
    let broker = SecureBroker::start(&certificate, &key, &[("fleet", secret)]);
    sasl_over_tls(&broker, &certificate, "SCRAM-SHA-512", secret);
}

/// PLAIN, which Tansu's build lacks, from `tests/kafka/sasl_plain.py` in front of it.
#[test]
fn sasl_plain_over_tls_takes_the_right_password_only_and_never_logs_it() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = common::self_signed(dir.path(), "broker");
    let secret = "plain-pw-9043";
    let broker = SecureBroker::start_plain(&certificate, &key, "fleet", secret);
    sasl_over_tls(&broker, &certificate, "PLAIN", secret);
}
