//! The `fundtrail` command, built inside the test package so end-to-end
//! tests can start real node processes (`CARGO_BIN_EXE_fundtrail-e2e`).

fn main() -> std::process::ExitCode {
    fundtrail_node::main_exit()
}
