//! The cluster benchmark's load: signed workload records, encoded as
//! submission bodies before the clock starts, and optionally kept in a
//! file, since ten million records take minutes to generate and sign.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::Harness;
use indicatif::{ProgressBar, ProgressStyle};

use super::client::BodyEncoding;

/// One submission: its encoded body and how many records it holds.
pub struct Body {
    pub bytes: Vec<u8>,
    pub records: usize,
}

/// The workload's seed: every run, and every cached file, holds the same
/// records for the same count and chunk.
const SEED: u8 = 7;

/// At least `records` records in bodies of `chunk`: the first of those
/// `cache` holds if it holds at least that many of this load (a shorter
/// run uses a prefix of a longer run's records), else generated and
/// written to `cache`.
pub fn bodies(
    records: usize,
    chunk: usize,
    encoding: BodyEncoding,
    cache: Option<&Path>,
) -> Result<Vec<Body>> {
    let kind = format!("seed={SEED} chunk={chunk} encoding={encoding:?}");
    let header = format!("fundtrail bench load v2 {kind} records={records:012}\n");
    if let Some(path) = cache.filter(|p| p.exists()) {
        if let Some(bodies) = read_cached(path, &kind, records)? {
            println!("load: {records} records read from {}", path.display());
            return Ok(bodies);
        }
        println!(
            "load: {} holds another load or fewer records; generating anew",
            path.display()
        );
    }
    let mut out = cache
        .map(|p| -> Result<_> {
            let mut w = BufWriter::new(
                File::create(p).with_context(|| format!("creating {}", p.display()))?,
            );
            w.write_all(header.as_bytes())?;
            Ok(w)
        })
        .transpose()?;
    let bodies = generate(records, chunk, encoding, |body| {
        if let Some(w) = out.as_mut() {
            w.write_all(&(body.records as u32).to_le_bytes())?;
            w.write_all(&(body.bytes.len() as u32).to_le_bytes())?;
            w.write_all(&body.bytes)?;
        }
        Ok(())
    })?;
    if let Some(mut w) = out {
        w.flush()?;
    }
    Ok(bodies)
}

/// The first bodies of a cached load of `kind` holding at least `records`
/// records, if `path` holds one.
fn read_cached(path: &Path, kind: &str, records: usize) -> Result<Option<Vec<Body>>> {
    let mut r = BufReader::new(File::open(path)?);
    let mut header = String::new();
    std::io::BufRead::read_line(&mut r, &mut header)?;
    let held = header
        .strip_prefix(&format!("fundtrail bench load v2 {kind} records="))
        .and_then(|n| n.trim_end().parse::<usize>().ok());
    if held.is_none_or(|held| held < records) {
        return Ok(None);
    }
    let mut bodies = Vec::new();
    let mut word = [0u8; 4];
    let mut read = 0;
    while read < records {
        match r.read_exact(&mut word) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
        let in_body = u32::from_le_bytes(word) as usize;
        r.read_exact(&mut word)?;
        let mut bytes = vec![0u8; u32::from_le_bytes(word) as usize];
        r.read_exact(&mut bytes)
            .with_context(|| format!("{} is truncated", path.display()))?;
        bodies.push(Body {
            bytes,
            records: in_body,
        });
        read += in_body;
    }
    if read < records {
        bail!(
            "{} is truncated: {read} of {records} records",
            path.display()
        );
    }
    Ok(Some(bodies))
}

/// Signed records from the seeded workload, valid against the state they
/// build up, in bodies of `chunk`; each body is handed to `keep` as made.
fn generate(
    records: usize,
    chunk: usize,
    encoding: BodyEncoding,
    mut keep: impl FnMut(&Body) -> Result<()>,
) -> Result<Vec<Body>> {
    let bar = ProgressBar::new(records as u64).with_style(
        ProgressStyle::with_template("generating {bar:40} {pos}/{len} records, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut harness = Harness::new(SEED);
    let mut workload = Workload::new(2026, (records / 10).max(1000) as u64, true);
    let mut out = Vec::new();
    let mut made = 0;
    while made < records {
        let block = workload.block(&harness.state, chunk);
        harness.block(&block);
        bar.inc(block.len() as u64);
        made += block.len();
        let body = Body {
            bytes: encoding.encode(&block)?,
            records: block.len(),
        };
        keep(&body)?;
        out.push(body);
    }
    bar.finish_and_clear();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_load_is_read_back_and_another_load_is_not_taken_for_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("load");
        let made = bodies(600, 250, BodyEncoding::Bcs, Some(&cache)).expect("generated");
        let read = bodies(600, 250, BodyEncoding::Bcs, Some(&cache)).expect("read");
        assert_eq!(made.len(), 3);
        let held = |b: &[Body]| {
            b.iter()
                .map(|b| (b.bytes.clone(), b.records))
                .collect::<Vec<_>>()
        };
        assert_eq!(held(&made), held(&read));
        let prefix = bodies(300, 250, BodyEncoding::Bcs, Some(&cache)).expect("read");
        assert_eq!(
            held(&prefix),
            held(&made[..2]),
            "a shorter run takes a prefix"
        );
        let kind = "seed=7 chunk=250 encoding=Bcs";
        assert!(read_cached(&cache, kind, 900).expect("readable").is_none());
        assert!(read_cached(&cache, "seed=7 chunk=100 encoding=Bcs", 300)
            .expect("readable")
            .is_none());
        let len = std::fs::metadata(&cache).expect("cache").len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&cache)
            .expect("open");
        file.set_len(len - 1).expect("truncate");
        let truncated = bodies(600, 250, BodyEncoding::Bcs, Some(&cache));
        assert!(truncated.is_err_and(|e| e.to_string().contains("truncated")));
    }
}
