//! Two daemons' worth of racing (SPEC §6.4): two `ingest` processes at once on overlapping files
//! against one Postgres, 20 times. Every shared person must be `new` exactly once.

use crate::support::Portal;

use std::path::Path;
use std::process::Stdio;

const FIRST: [&str; 12] = [
    "Andrea", "Benjie", "Carmela", "Dindo", "Estela", "Florante", "Gloria", "Herminio", "Imelda",
    "Jomar", "Kristine", "Leonardo",
];
const LAST: [&str; 12] = [
    "Abad",
    "Bautista",
    "Castillo",
    "Domingo",
    "Evangelista",
    "Fernandez",
    "Galang",
    "Hizon",
    "Ignacio",
    "Jimenez",
    "Katigbak",
    "Lacson",
];

/// A distinct person per (group, n, round). Names repeat across rounds, so contacts must never be
/// within one edit of each other (that would be a possible same person, SPEC §6.3): the subscriber
/// number is a multiple of 1111, and two multiples of 1111 never differ by one substitution or one
/// swap of digits; the email carries the same digits.
fn person(group: usize, n: usize, round: usize) -> String {
    let first = FIRST[n];
    let last = LAST[(n + group * 5) % 12];
    let id = (round * 3 + group) * 20 + n + 1;
    let subscriber = format!("{:07}", id * 1111);
    format!(
        "{first},{last},{}.{}.{subscriber}@gmail.com,0917{subscriber},40124",
        first.to_lowercase(),
        last.to_lowercase(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_both_create_a_shared_person() {
    let p = Portal::postgres().await;
    let migrated = p.command().arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    for round in 0..20 {
        let shared: Vec<String> = (0..10).map(|n| person(0, n, round)).collect();
        let mut a = vec!["First Name,Last Name,Email,Mobile,Campaign".to_string()];
        a.extend((0..10).map(|n| person(1, n, round)));
        a.extend(shared.iter().cloned());
        let mut b = vec!["First Name,Last Name,Email,Mobile,Campaign".to_string()];
        b.extend(shared.iter().rev().cloned());
        b.extend((0..10).map(|n| person(2, n, round)));
        let fa = p.path(format!("a{round}.csv"));
        let fb = p.path(format!("b{round}.csv"));
        std::fs::write(&fa, a.join("\n")).unwrap();
        std::fs::write(&fb, b.join("\n")).unwrap();

        let spawn = |file: &Path, agency: &str| {
            let mut cmd = p.command();
            cmd.arg("ingest")
                .arg(file)
                .args(["--agency", agency, "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        };
        let pa = spawn(&fa, "acme");
        let pb = spawn(&fb, "bayanihan");
        let (oa, ob) = (
            pa.wait_with_output().unwrap(),
            pb.wait_with_output().unwrap(),
        );
        for o in [&oa, &ob] {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let ja: serde_json::Value = serde_json::from_slice(&oa.stdout).unwrap();
        let jb: serde_json::Value = serde_json::from_slice(&ob.stdout).unwrap();
        // acme's shared people are rows 12..=21; bayanihan's are rows 2..=11 in reverse order.
        let outcome = |j: &serde_json::Value, row: u64| -> String {
            j["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["row"] == row)
                .unwrap()["outcome"]
                .as_str()
                .unwrap()
                .to_string()
        };
        for n in 0..10u64 {
            let from_a = outcome(&ja, 12 + n);
            let from_b = outcome(&jb, 11 - n);
            let mut both = [from_a.as_str(), from_b.as_str()];
            both.sort();
            assert_eq!(
                both,
                ["duplicate", "new"],
                "round {round}, shared person {n}: acme {from_a}, bayanihan {from_b}"
            );
        }
        assert_eq!(
            ja["counts"]["new"].as_u64().unwrap() + jb["counts"]["new"].as_u64().unwrap(),
            30
        );
    }
}
