# Stage helpers shared by the recipes; source after parse_options.sh.
# run_stage N: true when N lies in [--stage, --stop-stage]. done_or FILE: false (and says so) when FILE exists.
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
done_or() { [ -f "$1" ] && echo "skipping: $1 exists" && return 1; return 0; }
