//! The fuzz targets' seed corpus (`fuzz/corpus/`), replayed through the same entry points
//! on every test run, so the targets and their seeds cannot rot.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the seed corpus at {}: {e}", dir.display()));
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        run(&std::fs::read(&path).unwrap());
        count += 1;
    }
    assert!(
        count >= 5,
        "{target}: only {count} seeds in {}",
        dir.display()
    );
}

#[test]
fn txt_rules_corpus() {
    replay("txt_rules", domains::dns::fuzzing::txt_rules);
}

#[test]
fn dns_answer_corpus() {
    replay("dns_answer", |seed| {
        // Seeds are real answers, so they reach past the message parser.
        hickory_proto::op::Message::from_vec(seed).expect("a seed is a DNS message");
        domains::dns::fuzzing::dns_answer(seed)
    });
}
