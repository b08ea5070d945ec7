//! The `fundtrail` command: see `fundtrail --help`.

fn main() -> anyhow::Result<()> {
    fundtrail_node::main_entry()
}
