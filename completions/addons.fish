# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_addons_global_optspecs
    string join \n state= config= json q/quiet v/verbose h/help V/version
end

function __fish_addons_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_addons_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_addons_using_subcommand
    set -l cmd (__fish_addons_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c addons -n "__fish_addons_needs_command" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_needs_command" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_needs_command" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_needs_command" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_needs_command" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_needs_command" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_needs_command" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_needs_command" -f -a "provision" -d 'Create an addon for an app and start provisioning it'
complete -c addons -n "__fish_addons_needs_command" -f -a "deprovision" -d 'Remove addons: their config vars go at once, their resources on the next tick'
complete -c addons -n "__fish_addons_needs_command" -f -a "list" -d 'List addons (live ones unless --all)'
complete -c addons -n "__fish_addons_needs_command" -f -a "info" -d 'Show one addon'
complete -c addons -n "__fish_addons_needs_command" -f -a "log" -d 'Show every transition of an addon, with its time and message'
complete -c addons -n "__fish_addons_needs_command" -f -a "tick" -d 'Advance every due addon one step (safe to run from cron)'
complete -c addons -n "__fish_addons_needs_command" -f -a "watch" -d 'Tick as work comes due until no addon has work left'
complete -c addons -n "__fish_addons_needs_command" -f -a "wait" -d 'Tick the named addons until each has settled'
complete -c addons -n "__fish_addons_needs_command" -f -a "env" -d 'Print an app\'s config vars for a shell, a dotenv file or a script'
complete -c addons -n "__fish_addons_needs_command" -f -a "run" -d 'Run a command with an app\'s config vars in its environment'
complete -c addons -n "__fish_addons_needs_command" -f -a "config" -d 'Show, set or unset an app\'s config vars'
complete -c addons -n "__fish_addons_needs_command" -f -a "providers" -d 'List the providers, whether each is configured, and whether its server answers'
complete -c addons -n "__fish_addons_needs_command" -f -a "graph" -d 'Print the lifecycle state machine'
complete -c addons -n "__fish_addons_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c addons -n "__fish_addons_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c addons -n "__fish_addons_using_subcommand provision" -l as -d 'Prefix the addon\'s config vars: --as primary gives PRIMARY_DATABASE_URL' -r
complete -c addons -n "__fish_addons_using_subcommand provision" -l name -d 'The addon\'s name [default: generated, e.g. brave-river-4f2a1c]' -r
complete -c addons -n "__fish_addons_using_subcommand provision" -l param -d 'A provider parameter, e.g. --param length=64 (repeatable)' -r
complete -c addons -n "__fish_addons_using_subcommand provision" -l timeout -d 'How long --wait waits, e.g. 30s, 5m' -r
complete -c addons -n "__fish_addons_using_subcommand provision" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand provision" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand provision" -l wait -d 'Tick until the addon is ready'
complete -c addons -n "__fish_addons_using_subcommand provision" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand provision" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand provision" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand provision" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand provision" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand deprovision" -l timeout -d 'How long --wait waits, e.g. 30s, 5m' -r
complete -c addons -n "__fish_addons_using_subcommand deprovision" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand deprovision" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand deprovision" -l missing-ok -d 'Treat an addon that does not exist as already removed (exit 0), for scripts'
complete -c addons -n "__fish_addons_using_subcommand deprovision" -l wait -d 'Tick until each resource is removed'
complete -c addons -n "__fish_addons_using_subcommand deprovision" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand deprovision" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand deprovision" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand deprovision" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand deprovision" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand list" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand list" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand list" -l all -d 'Include deprovisioned addons and addons in error'
complete -c addons -n "__fish_addons_using_subcommand list" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand list" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand list" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand list" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand list" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand info" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand info" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand info" -l reveal -d 'Show config var values unmasked'
complete -c addons -n "__fish_addons_using_subcommand info" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand info" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand info" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand info" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand info" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand log" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand log" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand log" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand log" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand log" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand log" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand log" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand tick" -l jobs -d 'Run up to N provider calls at once [default: engine.jobs, 4]' -r
complete -c addons -n "__fish_addons_using_subcommand tick" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand tick" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand tick" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand tick" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand tick" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand tick" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand tick" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand watch" -l jobs -d 'Run up to N provider calls at once [default: engine.jobs, 4]' -r
complete -c addons -n "__fish_addons_using_subcommand watch" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand watch" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand watch" -l forever -d 'Keep going when no work is left, until SIGINT or SIGTERM'
complete -c addons -n "__fish_addons_using_subcommand watch" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand watch" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand watch" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand watch" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand watch" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand wait" -l timeout -d 'Give up after this long (exit 3), e.g. 30s, 5m' -r
complete -c addons -n "__fish_addons_using_subcommand wait" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand wait" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand wait" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand wait" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand wait" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand wait" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand wait" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand env" -l format -d 'How to print the vars [default: shell; json with --json]' -r -f -a "shell\t'export KEY=\'value\' lines, for eval'
dotenv\t'KEY=value lines'
json\t'one JSON object'"
complete -c addons -n "__fish_addons_using_subcommand env" -l timeout -d 'How long --wait waits, e.g. 30s, 5m' -r
complete -c addons -n "__fish_addons_using_subcommand env" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand env" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand env" -l wait -d 'Tick the app\'s addons that are not ready yet until they are'
complete -c addons -n "__fish_addons_using_subcommand env" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand env" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand env" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand env" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c addons -n "__fish_addons_using_subcommand env" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand run" -l timeout -d 'How long --wait waits, e.g. 30s, 5m' -r
complete -c addons -n "__fish_addons_using_subcommand run" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand run" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand run" -l wait -d 'Tick the app\'s addons that are not ready yet until they are'
complete -c addons -n "__fish_addons_using_subcommand run" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand run" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand run" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand run" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand run" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -l reveal -d 'Show values unmasked'
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -a "set" -d 'Set config vars by hand: KEY=VALUE...'
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -a "unset" -d 'Unset config vars set by hand: KEY...'
complete -c addons -n "__fish_addons_using_subcommand config; and not __fish_seen_subcommand_from set unset help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from set" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from set" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from set" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from set" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from unset" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from unset" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from unset" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from unset" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from unset" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from unset" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from unset" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "set" -d 'Set config vars by hand: KEY=VALUE...'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "unset" -d 'Unset config vars set by hand: KEY...'
complete -c addons -n "__fish_addons_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c addons -n "__fish_addons_using_subcommand providers" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand providers" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand providers" -l check -d 'Exit 1 when a configured provider\'s server does not answer (a health check)'
complete -c addons -n "__fish_addons_using_subcommand providers" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand providers" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand providers" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand providers" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand providers" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand graph" -l format -r -f -a "dot\t''
mermaid\t''"
complete -c addons -n "__fish_addons_using_subcommand graph" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand graph" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand graph" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand graph" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand graph" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand graph" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand graph" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand completions" -l state -d 'The state file [default: $XDG_DATA_HOME/addons/state.db]' -r -F
complete -c addons -n "__fish_addons_using_subcommand completions" -l config -d 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]' -r -F
complete -c addons -n "__fish_addons_using_subcommand completions" -l json -d 'Print one JSON document on stdout instead of tables'
complete -c addons -n "__fish_addons_using_subcommand completions" -s q -l quiet -d 'Print only what was asked for (no progress, no notes)'
complete -c addons -n "__fish_addons_using_subcommand completions" -s v -l verbose -d 'Print more about what is going on, on stderr'
complete -c addons -n "__fish_addons_using_subcommand completions" -s h -l help -d 'Print help'
complete -c addons -n "__fish_addons_using_subcommand completions" -s V -l version -d 'Print version'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "provision" -d 'Create an addon for an app and start provisioning it'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "deprovision" -d 'Remove addons: their config vars go at once, their resources on the next tick'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "list" -d 'List addons (live ones unless --all)'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "info" -d 'Show one addon'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "log" -d 'Show every transition of an addon, with its time and message'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "tick" -d 'Advance every due addon one step (safe to run from cron)'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "watch" -d 'Tick as work comes due until no addon has work left'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "wait" -d 'Tick the named addons until each has settled'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "env" -d 'Print an app\'s config vars for a shell, a dotenv file or a script'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "run" -d 'Run a command with an app\'s config vars in its environment'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "config" -d 'Show, set or unset an app\'s config vars'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "providers" -d 'List the providers, whether each is configured, and whether its server answers'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "graph" -d 'Print the lifecycle state machine'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c addons -n "__fish_addons_using_subcommand help; and not __fish_seen_subcommand_from provision deprovision list info log tick watch wait env run config providers graph completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c addons -n "__fish_addons_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "set" -d 'Set config vars by hand: KEY=VALUE...'
complete -c addons -n "__fish_addons_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "unset" -d 'Unset config vars set by hand: KEY...'
