//! The fictional population: six prefectures of Guangdong and two
//! out-of-province care regions, their hospitals by level, and people with
//! valid (GB 11643) but invented ID-card numbers, insurance types,
//! assistance categories and cross-region filings. Claims are drawn here
//! too: amounts depend on admission and level, all in fen (no floats).

use std::collections::{BTreeMap, BTreeSet};

use fundtrail_intake::{BillNo, ClaimLine, IdCard};
use fundtrail_ledger::record::PaymentMethod;
use fundtrail_ledger::types::{
    Admission, Amount, Category, Date, GroupCode, InstitutionId, InstitutionLevel, InsuredType,
    RegionCode,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{label, YEAR};

/// Insured regions (prefecture codes) and their weight in the population.
pub const PREFECTURES: [(&str, u32); 6] = [
    ("440100", 30), // Guangzhou
    ("440300", 25), // Shenzhen
    ("440600", 15), // Foshan
    ("441900", 12), // Dongguan
    ("440500", 10), // Shantou
    ("440400", 8),  // Zhuhai
];

/// Care-only regions outside the province (Beijing, Shanghai).
pub const OUT_OF_PROVINCE: [&str; 2] = ["110000", "310000"];

const DISTRICTS: [&str; 8] = ["02", "03", "04", "05", "06", "11", "12", "13"];

/// Category weights among people with assistance eligibility.
const CATEGORY_WEIGHTS: [(Category, u32); 6] = [
    (Category::Tekun, 10),
    (Category::Orphan, 5),
    (Category::Dibao, 35),
    (Category::DibaoEdge, 15),
    (Category::PovertyMonitoring, 15),
    (Category::IllnessPoverty, 20),
];

pub struct Person {
    pub id: IdCard,
    pub region: RegionCode,
    pub insured_type: InsuredType,
    pub supplementary: bool,
    pub eligibility: Option<(Category, Date, Date)>,
    pub filing: Option<RegionCode>,
}

pub struct World {
    pub people: Vec<Person>,
    hospitals: BTreeMap<(RegionCode, InstitutionLevel), Vec<InstitutionId>>,
    bills: BTreeMap<InstitutionId, u32>,
    /// The default DRG catalogue's groups and standards (fen), from which
    /// an inpatient stay's group is coded by its cost.
    groups: Vec<(GroupCode, u64)>,
}

pub fn date(y: u32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).unwrap_or(Date::from_days(0))
}

pub fn plus_days(d: Date, days: u32) -> Date {
    Date::from_days(d.days() + days).min(date(YEAR.into(), 12, 31))
}

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (item, w) in table {
        if roll < *w {
            return *item;
        }
        roll -= w;
    }
    table[0].0
}

/// Skewed towards `lo`: the smaller of two uniform draws.
fn skewed(rng: &mut ChaCha8Rng, lo_yuan: u64, hi_yuan: u64) -> u64 {
    let span = (hi_yuan - lo_yuan) * 100;
    lo_yuan * 100 + rng.gen_range(0..=span).min(rng.gen_range(0..=span))
}

fn hospitals() -> BTreeMap<(RegionCode, InstitutionLevel), Vec<InstitutionId>> {
    let mut map = BTreeMap::new();
    let levels = [
        (InstitutionLevel::Tertiary, 1, 2),
        (InstitutionLevel::Secondary, 11, 3),
        (InstitutionLevel::Grassroots, 101, 4),
    ];
    let regions = PREFECTURES.iter().map(|(r, _)| *r).chain(OUT_OF_PROVINCE);
    for r in regions {
        for (level, first, count) in levels {
            let codes = (first..first + count)
                .map(|n| label(&format!("H{r}{n:05}")))
                .collect();
            map.insert((label(r), level), codes);
        }
    }
    map
}

impl World {
    pub fn new(rng: &mut ChaCha8Rng, people: usize) -> World {
        let mut seen = BTreeSet::new();
        let people = (0..people).map(|i| person(rng, i, &mut seen)).collect();
        World {
            people,
            hospitals: hospitals(),
            bills: BTreeMap::new(),
            groups: catalogue(),
        }
    }

    /// The hospitals of `region` at `level`.
    pub fn hospitals(&self, region: &RegionCode, level: InstitutionLevel) -> &[InstitutionId] {
        self.hospitals
            .get(&(region.clone(), level))
            .map_or(&[], Vec::as_slice)
    }

    /// The catalogue group whose standard is nearest `cost_fen`.
    pub fn group_for(&self, cost_fen: u64) -> Option<GroupCode> {
        nearest_group(&self.groups, cost_fen)
    }

    /// An inpatient claim of `p` at `institution` coded `group`, whatever
    /// its cost: how an upcoding hospital files its cases.
    #[allow(clippy::too_many_arguments)]
    pub fn coded_claim(
        &mut self,
        rng: &mut ChaCha8Rng,
        p: usize,
        institution: InstitutionId,
        level: InstitutionLevel,
        service_date: Date,
        group: GroupCode,
        in_scope_fen: u64,
    ) -> ClaimLine {
        let region = self.people[p].region.clone();
        let mut line = self.claim_line(
            p,
            institution,
            level,
            &region,
            service_date,
            Admission::Inpatient,
        );
        let total = in_scope_fen * rng.gen_range(105..=120) / 100;
        line.total = Amount::from_fen(total).unwrap_or(Amount::ZERO);
        line.in_scope = Amount::from_fen(in_scope_fen).unwrap_or(Amount::ZERO);
        line.drg_or_dip_group = Some(group);
        line
    }

    fn hospital(
        &self,
        rng: &mut ChaCha8Rng,
        region: &RegionCode,
        level: InstitutionLevel,
    ) -> InstitutionId {
        let list = self
            .hospitals
            .get(&(region.clone(), level))
            .expect("every region has hospitals of every level");
        list[rng.gen_range(0..list.len())].clone()
    }

    fn bill_no(&mut self, institution: &InstitutionId, admission: Admission) -> BillNo {
        let n = self.bills.entry(institution.clone()).or_insert(0);
        *n += 1;
        let prefix = match admission {
            Admission::Inpatient => "ZY",
            Admission::Outpatient => "MZ",
        };
        BillNo::parse(&format!("{prefix}{YEAR}-{n:07}")).expect("generated bill numbers are valid")
    }

    /// A claim of `p` on `service_date`, cared for in `care_region`.
    pub fn claim(
        &mut self,
        rng: &mut ChaCha8Rng,
        p: usize,
        care_region: &RegionCode,
        service_date: Date,
        admission: Admission,
    ) -> ClaimLine {
        let level = draw_level(rng, admission, care_region);
        let institution = self.hospital(rng, care_region, level);
        let (total, in_scope) = draw_amounts(rng, admission, level);
        let line = self.claim_line(p, institution, level, care_region, service_date, admission);
        with_amounts(line, total, in_scope, &self.groups, rng)
    }

    /// A tertiary inpatient bill large enough that the basic cap binds.
    pub fn catastrophic(
        &mut self,
        rng: &mut ChaCha8Rng,
        p: usize,
        service_date: Date,
    ) -> ClaimLine {
        let region = self.people[p].region.clone();
        let institution = self.hospital(rng, &region, InstitutionLevel::Tertiary);
        let total = rng.gen_range(700_000..=900_000) * 100;
        let in_scope = rng.gen_range(650_000..=690_000) * 100;
        let line = self.claim_line(
            p,
            institution,
            InstitutionLevel::Tertiary,
            &region,
            service_date,
            Admission::Inpatient,
        );
        with_amounts(line, total, in_scope, &self.groups, rng)
    }

    fn claim_line(
        &mut self,
        p: usize,
        institution: InstitutionId,
        level: InstitutionLevel,
        care_region: &RegionCode,
        service_date: Date,
        admission: Admission,
    ) -> ClaimLine {
        let bill_no = self.bill_no(&institution, admission);
        let person = &self.people[p];
        ClaimLine {
            id_card: person.id.clone(),
            institution,
            bill_no,
            institution_level: level,
            insured_type: person.insured_type,
            insured_region: person.region.clone(),
            care_region: care_region.clone(),
            service_date,
            admission,
            total: Amount::ZERO,
            in_scope: Amount::ZERO,
            drg_or_dip_group: None,
            supplementary_cover: person.supplementary,
        }
    }
}

/// The default DRG catalogue as `(group, standard in fen)`.
fn catalogue() -> Vec<(GroupCode, u64)> {
    let policy = fundtrail_contracts::policy::default_payment_policy(
        PaymentMethod::Drg,
        label("440300"),
        YEAR,
    );
    policy
        .groups
        .iter()
        .map(|g| {
            let standard = fundtrail_contracts::payment::standard(&policy, g.points);
            (g.code.clone(), standard.fen())
        })
        .collect()
}

/// Sets the amounts (in fen) and, for an inpatient stay, the group whose
/// standard is nearest its in-scope cost give or take a fifth (coding
/// follows the case, and cost varies within a group).
fn with_amounts(
    mut line: ClaimLine,
    total: u64,
    in_scope: u64,
    groups: &[(GroupCode, u64)],
    rng: &mut ChaCha8Rng,
) -> ClaimLine {
    line.total = Amount::from_fen(total).unwrap_or(Amount::ZERO);
    line.in_scope = Amount::from_fen(in_scope.min(total)).unwrap_or(Amount::ZERO);
    if line.admission == Admission::Inpatient {
        let cost = line.in_scope.fen() * rng.gen_range(80..=120) / 100;
        line.drg_or_dip_group = nearest_group(groups, cost);
    }
    line
}

fn nearest_group(groups: &[(GroupCode, u64)], cost_fen: u64) -> Option<GroupCode> {
    groups
        .iter()
        .min_by_key(|(_, standard)| standard.abs_diff(cost_fen))
        .map(|(g, _)| g.clone())
}

fn draw_level(
    rng: &mut ChaCha8Rng,
    admission: Admission,
    care_region: &RegionCode,
) -> InstitutionLevel {
    use InstitutionLevel::*;
    if OUT_OF_PROVINCE.contains(&care_region.as_str()) {
        return Tertiary;
    }
    let table = match admission {
        Admission::Inpatient => [(Tertiary, 40), (Secondary, 35), (Grassroots, 25)],
        Admission::Outpatient => [(Tertiary, 20), (Secondary, 30), (Grassroots, 50)],
    };
    weighted(rng, &table)
}

/// `(total, in_scope)` in fen.
fn draw_amounts(rng: &mut ChaCha8Rng, admission: Admission, level: InstitutionLevel) -> (u64, u64) {
    use InstitutionLevel::*;
    let (lo, hi) = match (admission, level) {
        (Admission::Outpatient, Grassroots) => (150, 3_000),
        (Admission::Outpatient, Secondary) => (300, 6_000),
        (Admission::Outpatient, Tertiary) => (500, 12_000),
        (Admission::Inpatient, Grassroots) => (1_500, 15_000),
        (Admission::Inpatient, Secondary) => (5_000, 60_000),
        (Admission::Inpatient, Tertiary) if rng.gen_ratio(1, 150) => (300_000, 800_000),
        (Admission::Inpatient, Tertiary) => (15_000, 300_000),
    };
    let total = skewed(rng, lo, hi);
    (total, total * rng.gen_range(70..=95) / 100)
}

fn person(rng: &mut ChaCha8Rng, index: usize, seen: &mut BTreeSet<String>) -> Person {
    let region: RegionCode = label(weighted(rng, &PREFECTURES));
    let eligibility = draw_eligibility(rng, index);
    let orphan = matches!(eligibility, Some((Category::Orphan, ..)));
    let id = loop {
        let id = id_card(rng, &region, orphan);
        if seen.insert(id.expose().to_string()) {
            break id;
        }
    };
    let filing = rng.gen_ratio(8, 100).then(|| care_elsewhere(rng, &region));
    Person {
        id,
        region,
        insured_type: if rng.gen_ratio(40, 100) {
            InsuredType::Employee
        } else {
            InsuredType::Resident
        },
        supplementary: rng.gen_ratio(25, 100),
        eligibility,
        filing,
    }
}

/// About 15 % of people; the first six eligible people cover every category.
fn draw_eligibility(rng: &mut ChaCha8Rng, index: usize) -> Option<(Category, Date, Date)> {
    let category = match index {
        i if i < Category::ALL.len() * 7 && i % 7 == 0 => Category::ALL[i / 7],
        _ if rng.gen_ratio(15, 100) => weighted(rng, &CATEGORY_WEIGHTS),
        _ => return None,
    };
    let year = u32::from(YEAR);
    let from = if rng.gen_ratio(20, 100) {
        date(year, 4, 1)
    } else {
        date(year, 1, 1)
    };
    Some((category, from, date(year, 12, 31)))
}

/// Another prefecture (70 %) or a city outside the province.
pub fn care_elsewhere(rng: &mut ChaCha8Rng, home: &RegionCode) -> RegionCode {
    if rng.gen_ratio(30, 100) {
        return label(OUT_OF_PROVINCE[rng.gen_range(0..OUT_OF_PROVINCE.len())]);
    }
    let others: Vec<&str> = PREFECTURES
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| *r != home.as_str())
        .collect();
    label(others[rng.gen_range(0..others.len())])
}

fn id_card(rng: &mut ChaCha8Rng, region: &RegionCode, orphan: bool) -> IdCard {
    let district = DISTRICTS[rng.gen_range(0..DISTRICTS.len())];
    let year = if orphan {
        rng.gen_range(2009..=2019)
    } else {
        rng.gen_range(1936..=2019)
    };
    let first17 = format!(
        "{}{district}{year:04}{:02}{:02}{:03}",
        &region.as_str()[..4],
        rng.gen_range(1..=12),
        rng.gen_range(1..=28),
        rng.gen_range(1..=999),
    );
    IdCard::with_check_digit(&first17).expect("17 generated digits with a real birth date")
}
