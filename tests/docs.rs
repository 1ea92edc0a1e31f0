//! Keeps the docs true: the state diagram in ARCHITECTURE.md is the one the binary
//! prints, and the README names every subcommand.

use std::process::Command;

fn addons(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_addons")).args(args).env_clear().output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn read(file: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

#[test]
fn architecture_shows_the_state_diagram_the_binary_prints() {
    let mermaid = addons(&["graph", "--format", "mermaid"]);
    assert!(
        read("ARCHITECTURE.md").contains(&mermaid),
        "ARCHITECTURE.md's diagram differs from `addons graph --format mermaid`:\n{mermaid}"
    );
}

#[test]
fn readme_names_every_subcommand() {
    let readme = read("README.md");
    let help = addons(&["--help"]);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(commands.len() >= 14, "{commands:?}");
    for command in commands {
        assert!(readme.contains(&format!("  {command}")), "README.md does not list `{command}`");
    }
}
