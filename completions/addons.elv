
set edit:completion:arg-completer[addons] = { |@words|
    var index = (count $words)
    set index = (- $index 1)

    put (env _CLAP_IFS="\n" _CLAP_COMPLETE_INDEX=(to-string $index) ADDONS_COMPLETE="elvish" addons -- $@words) | to-lines
}

