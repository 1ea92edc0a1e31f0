
use builtin;
use str;

set edit:completion:arg-completer[addons] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'addons'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'addons'= {
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand provision 'Create an addon for an app and start provisioning it'
            cand deprovision 'Remove addons: their config vars go at once, their resources on the next tick'
            cand list 'List addons (live ones unless --all)'
            cand info 'Show one addon'
            cand log 'Show every transition of an addon, with its time and message'
            cand tick 'Advance every due addon one step (safe to run from cron)'
            cand watch 'Tick as work comes due until no addon has work left'
            cand wait 'Tick the named addons until each has settled'
            cand env 'Print an app''s config vars for a shell, a dotenv file or a script'
            cand run 'Run a command with an app''s config vars in its environment'
            cand config 'Show, set or unset an app''s config vars'
            cand providers 'List the providers, whether each is configured, and whether its server answers'
            cand graph 'Print the lifecycle state machine'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'addons;provision'= {
            cand --as 'Prefix the addon''s config vars: --as primary gives PRIMARY_DATABASE_URL'
            cand --name 'The addon''s name [default: generated, e.g. brave-river-4f2a1c]'
            cand --param 'A provider parameter, e.g. --param length=64 (repeatable)'
            cand --timeout 'How long --wait waits, e.g. 30s, 5m'
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --wait 'Tick until the addon is ready'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;deprovision'= {
            cand --timeout 'How long --wait waits, e.g. 30s, 5m'
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --missing-ok 'Treat an addon that does not exist as already removed (exit 0), for scripts'
            cand --wait 'Tick until each resource is removed'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;list'= {
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --all 'Include deprovisioned addons and addons in error'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;info'= {
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --reveal 'Show config var values unmasked'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;log'= {
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;tick'= {
            cand --jobs 'Run up to N provider calls at once [default: engine.jobs, 4]'
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;watch'= {
            cand --jobs 'Run up to N provider calls at once [default: engine.jobs, 4]'
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --forever 'Keep going when no work is left, until SIGINT or SIGTERM'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;wait'= {
            cand --timeout 'Give up after this long (exit 3), e.g. 30s, 5m'
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;env'= {
            cand --format 'How to print the vars [default: shell; json with --json]'
            cand --timeout 'How long --wait waits, e.g. 30s, 5m'
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --wait 'Tick the app''s addons that are not ready yet until they are'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;run'= {
            cand --timeout 'How long --wait waits, e.g. 30s, 5m'
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --wait 'Tick the app''s addons that are not ready yet until they are'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;config'= {
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --reveal 'Show values unmasked'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand set 'Set config vars by hand: KEY=VALUE...'
            cand unset 'Unset config vars set by hand: KEY...'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'addons;config;set'= {
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;config;unset'= {
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;config;help'= {
            cand set 'Set config vars by hand: KEY=VALUE...'
            cand unset 'Unset config vars set by hand: KEY...'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'addons;config;help;set'= {
        }
        &'addons;config;help;unset'= {
        }
        &'addons;config;help;help'= {
        }
        &'addons;providers'= {
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --check 'Exit 1 when a configured provider''s server does not answer (a health check)'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;graph'= {
            cand --format 'format'
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;completions'= {
            cand --state 'The state file [default: $XDG_DATA_HOME/addons/state.db]'
            cand --config 'The config file [default: $XDG_CONFIG_HOME/addons/config.toml]'
            cand --json 'Print one JSON document on stdout instead of tables'
            cand -q 'Print only what was asked for (no progress, no notes)'
            cand --quiet 'Print only what was asked for (no progress, no notes)'
            cand -v 'Print more about what is going on, on stderr'
            cand --verbose 'Print more about what is going on, on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'addons;help'= {
            cand provision 'Create an addon for an app and start provisioning it'
            cand deprovision 'Remove addons: their config vars go at once, their resources on the next tick'
            cand list 'List addons (live ones unless --all)'
            cand info 'Show one addon'
            cand log 'Show every transition of an addon, with its time and message'
            cand tick 'Advance every due addon one step (safe to run from cron)'
            cand watch 'Tick as work comes due until no addon has work left'
            cand wait 'Tick the named addons until each has settled'
            cand env 'Print an app''s config vars for a shell, a dotenv file or a script'
            cand run 'Run a command with an app''s config vars in its environment'
            cand config 'Show, set or unset an app''s config vars'
            cand providers 'List the providers, whether each is configured, and whether its server answers'
            cand graph 'Print the lifecycle state machine'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'addons;help;provision'= {
        }
        &'addons;help;deprovision'= {
        }
        &'addons;help;list'= {
        }
        &'addons;help;info'= {
        }
        &'addons;help;log'= {
        }
        &'addons;help;tick'= {
        }
        &'addons;help;watch'= {
        }
        &'addons;help;wait'= {
        }
        &'addons;help;env'= {
        }
        &'addons;help;run'= {
        }
        &'addons;help;config'= {
            cand set 'Set config vars by hand: KEY=VALUE...'
            cand unset 'Unset config vars set by hand: KEY...'
        }
        &'addons;help;config;set'= {
        }
        &'addons;help;config;unset'= {
        }
        &'addons;help;providers'= {
        }
        &'addons;help;graph'= {
        }
        &'addons;help;completions'= {
        }
        &'addons;help;help'= {
        }
    ]
    $completions[$command]
}
