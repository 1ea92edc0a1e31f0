complete --keep-order --exclusive --command addons --arguments "(ADDONS_COMPLETE=fish addons -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
