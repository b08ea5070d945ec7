//! The demo scenario on the real engine, as the demo runs it: every line is
//! resolved against the chain, pseudonymised and signed with the testkit
//! keys (officer approvals as the line asks), and each wave is shuffled and
//! cut into blocks before execution. The rejections must be exactly the
//! injected abuses, every honest record must be accepted, and the signals
//! must be those of the generator's own in-order simulation.

use std::collections::BTreeMap;

use fundtrail_contracts::lookup::StateLookup;
use fundtrail_intake::{pseudonymise, resolve};
use fundtrail_ledger::block::{Outcome, Verdict};
use fundtrail_ledger::record::SignedRecord;
use fundtrail_testkit::scenario::{
    generate, outcome_matches, Expect, Scenario, ScenarioConfig, Wave, KIT_SEED,
};
use fundtrail_testkit::{Harness, Kit};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Blocks a wave is cut into, at random points.
const BLOCKS_PER_WAVE: usize = 3;

#[derive(Default)]
struct Tally {
    rejected: BTreeMap<String, usize>,
    signals: BTreeMap<String, usize>,
    mismatches: Vec<String>,
}

/// Signs every line of `wave` against the state before it, in line order.
fn sign_wave(h: &mut Harness, wave: &Wave) -> Vec<SignedRecord> {
    let key = h.kit.pseudonyms.clone();
    let lookup = StateLookup::new(&h.state);
    let intakes: Vec<_> = wave
        .lines
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let line = resolve(s.line.clone(), &key, &lookup)
                .unwrap_or_else(|e| panic!("{} line {i}: {e}", wave.name));
            pseudonymise(line, &key, [i as u8; 32])
                .unwrap_or_else(|e| panic!("{} line {i}: {e}", wave.name))
        })
        .collect();
    wave.lines
        .iter()
        .zip(intakes)
        .map(|(s, b)| h.record(s.role, b.body, usize::from(b.approvals)))
        .collect()
}

/// Executes `records` shuffled, in a few blocks; outcomes in line order.
fn execute_shuffled(
    h: &mut Harness,
    records: &[SignedRecord],
    rng: &mut ChaCha8Rng,
) -> Vec<Outcome> {
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.shuffle(rng);
    let mut cuts: Vec<usize> = (1..BLOCKS_PER_WAVE)
        .map(|_| rng.gen_range(0..=records.len()))
        .collect();
    cuts.extend([0, records.len()]);
    cuts.sort_unstable();
    let mut by_id = BTreeMap::new();
    for w in cuts.windows(2) {
        let block: Vec<SignedRecord> = order[w[0]..w[1]]
            .iter()
            .map(|i| records[*i].clone())
            .collect();
        for o in h.block(&block).outcomes {
            by_id.insert(o.record_id, o);
        }
    }
    records
        .iter()
        .map(|r| by_id.remove(&r.id()).expect("every record has an outcome"))
        .collect()
}

fn run(scenario: &Scenario, shuffle_seed: u64) -> Tally {
    let mut h = Harness::with_genesis(Kit::new(KIT_SEED), &scenario.genesis);
    let mut rng = ChaCha8Rng::seed_from_u64(shuffle_seed);
    let mut tally = Tally::default();
    for wave in &scenario.waves {
        let records = sign_wave(&mut h, wave);
        let outcomes = execute_shuffled(&mut h, &records, &mut rng);
        for (i, (s, o)) in wave.lines.iter().zip(&outcomes).enumerate() {
            if !outcome_matches(s.expect, o) {
                tally.mismatches.push(format!(
                    "{} line {i}: {:?} vs {:?}",
                    wave.name, s.expect, o.verdict
                ));
            }
            if let Verdict::Rejected { code } = &o.verdict {
                *tally.rejected.entry(code.to_string()).or_default() += 1;
            }
            for code in &o.signals {
                *tally.signals.entry(code.to_string()).or_default() += 1;
            }
        }
    }
    tally
}

#[test]
fn default_scenario_gives_exactly_the_injected_rejections_in_any_order() {
    let scenario = generate(&ScenarioConfig::default()).expect("the scenario generates");
    let tally = run(&scenario, 7);
    assert!(
        tally.mismatches.is_empty(),
        "{:#?}",
        &tally.mismatches[..tally.mismatches.len().min(20)]
    );
    assert_eq!(tally.rejected, scenario.expected);
    assert_eq!(tally.signals, scenario.signals);
    for code in [
        "DUPLICATE_PAYMENT",
        "NOT_ELIGIBLE",
        "NO_FILING",
        "ANNUAL_CAP",
        "ABOVE_ENTITLEMENT",
        "WRONG_FUND",
        "MISSING_APPROVAL",
        "DUPLICATE_CLAIM",
        "SETTLEMENT_MISMATCH",
    ] {
        assert!(
            scenario.expected.get(code).is_some_and(|n| *n > 0),
            "no {code} injected"
        );
    }
    let honest = scenario
        .waves
        .iter()
        .flat_map(|w| &w.lines)
        .filter(|s| s.expect == Expect::Accept)
        .count();
    let rejected: usize = scenario.expected.values().sum();
    eprintln!(
        "{} waves, {honest} honest records, rejected {:?}, signals {:?}",
        scenario.waves.len(),
        scenario.expected,
        scenario.signals
    );
    assert!(honest > 10 * rejected);
    // Payment by groups: the upcoding hospital alone is flagged, and both
    // grouped prefectures' settlements are among the accepted lines.
    assert_eq!(scenario.signals.get("UPCODING"), Some(&1));
    let settlements = scenario
        .waves
        .iter()
        .filter(|w| w.name == "settlement")
        .flat_map(|w| &w.lines)
        .filter(|s| s.expect == Expect::Accept)
        .count();
    assert_eq!(settlements, fundtrail_testkit::scenario::GROUPED.len());
}

#[test]
fn the_same_seed_gives_the_same_scenario_and_another_seed_another() {
    let config = ScenarioConfig {
        seed: 11,
        people: 400,
    };
    let a = generate(&config).expect("generates");
    let b = generate(&config).expect("generates");
    assert!(a == b, "same seed, different scenarios");
    let other = generate(&ScenarioConfig { seed: 12, ..config }).expect("generates");
    assert!(a.waves != other.waves, "another seed, same waves");
    let tally = run(&other, 3);
    assert!(tally.mismatches.is_empty(), "{:?}", tally.mismatches);
    assert_eq!(tally.rejected, other.expected);
}

/// However small the population, the upcoding hospital's December is
/// flagged once and both grouped prefectures settle.
#[test]
fn small_populations_still_flag_the_upcoding_hospital_and_settle() {
    for people in [200, 400] {
        let scenario = generate(&ScenarioConfig { seed: 2026, people }).expect("generates");
        assert_eq!(
            scenario.signals.get("UPCODING"),
            Some(&1),
            "{people} people"
        );
        let settled = scenario
            .waves
            .iter()
            .filter(|w| w.name == "settlement")
            .map(|w| w.lines.len())
            .sum::<usize>();
        assert_eq!(settled, 2, "{people} people");
    }
}

/// Every line of the scenario is a record of its own: no two lines of one
/// submitting role share an identity (a reference, or the whole content
/// of a line without one), which would make the second a resubmission.
#[test]
fn every_scenario_line_has_an_identity_of_its_own() {
    let scenario = generate(&ScenarioConfig {
        seed: 2026,
        people: 600,
    })
    .expect("generates");
    let mut seen = std::collections::BTreeSet::new();
    let mut referenced = 0;
    for line in scenario.waves.iter().flat_map(|w| &w.lines) {
        referenced += usize::from(line.line.reference().is_some());
        let identity = fundtrail_intake::LineIdentity::of(&line.line);
        assert!(
            seen.insert((line.role, identity)),
            "a second {} line of {:?} has an earlier line's identity",
            line.line.kind().name(),
            line.role
        );
    }
    assert!(referenced > 600, "payouts carry references: {referenced}");
}
