//! A slow, lossy link for the fault tests, where the kernel has no netem:
//! relays Ethernet frames both ways between two interfaces through raw
//! packet sockets, dropping each with a given probability and holding the
//! rest for a delay drawn between two bounds. A frame never overtakes an
//! earlier one in its direction (no reordering).
//!
//! Usage: `fault-relay IFACE_A IFACE_B MIN_MS MAX_MS LOSS_PERMILLE SEED`,
//! run in the namespace holding both interfaces; it relays until killed.
//! Offloads must be off on the path (`ethtool -K … tx off gso off gro
//! off`): a frame read here must be one wire-sized frame with its checksum.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};

struct Link {
    min: Duration,
    max: Duration,
    loss_permille: u32,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, min, max, loss, seed] = args.as_slice() else {
        bail!("usage: fault-relay IFACE_A IFACE_B MIN_MS MAX_MS LOSS_PERMILLE SEED");
    };
    let link = Link {
        min: Duration::from_millis(min.parse().context("MIN_MS")?),
        max: Duration::from_millis(max.parse().context("MAX_MS")?),
        loss_permille: loss.parse().context("LOSS_PERMILLE")?,
    };
    if link.max < link.min {
        bail!("MAX_MS is below MIN_MS");
    }
    let seed: u64 = seed.parse().context("SEED")?;
    let fa = open(a).with_context(|| format!("opening a packet socket on {a}"))?;
    let fb = open(b).with_context(|| format!("opening a packet socket on {b}"))?;
    let link = std::sync::Arc::new(link);
    let l = link.clone();
    let one = std::thread::spawn(move || relay(fa, fb, &l, seed));
    let two = std::thread::spawn(move || relay(fb, fa, &link, seed ^ 0x5eed));
    for direction in [one, two] {
        match direction.join() {
            Ok(result) => result?,
            Err(_) => bail!("a relay thread panicked"),
        }
    }
    Ok(())
}

/// Frames read from `from` go to `to`, delayed and thinned.
fn relay(from: RawFd, to: RawFd, link: &Link, seed: u64) -> Result<()> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let sender = std::thread::spawn(move || -> Result<()> {
        for (due, frame) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            // A frame the other side cannot take (its queue is full, or it
            // is too large) is lost, as on a wire.
            let _ = send(to, &frame);
        }
        Ok(())
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut last_due = Instant::now();
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = recv_incoming(from, &mut buf).context("reading a frame")?;
        if rng.gen_range(0..1000) < link.loss_permille {
            continue;
        }
        let delay = link.min + (link.max - link.min).mul_f64(rng.gen::<f64>());
        last_due = last_due.max(Instant::now() + delay);
        if tx.send((last_due, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))?
}

/// A raw packet socket bound to interface `name`, receiving every protocol.
fn open(name: &str) -> io::Result<RawFd> {
    let protocol = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain system calls on values this function owns.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, protocol as i32);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let cname =
            CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let index = libc::if_nametoindex(cname.as_ptr());
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = index as i32;
        let bound = libc::bind(
            fd,
            &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// The next frame that arrived on the socket's interface (frames this
/// process sent out of it are skipped); its length.
fn recv_incoming(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` and `addr` outlive the call, with their lengths given.
        let (n, addr) = unsafe {
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            let n = libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                &mut addr as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                &mut len,
            );
            (n, addr)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if addr.sll_pkttype != libc::PACKET_OUTGOING {
            return Ok(n as usize);
        }
    }
}

fn send(fd: RawFd, frame: &[u8]) -> io::Result<()> {
    // SAFETY: `frame` outlives the call, with its length given.
    let n = unsafe { libc::send(fd, frame.as_ptr().cast(), frame.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
