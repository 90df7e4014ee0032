# Sourced by tools/run.sh and tools/fuzz.sh: the Debian packages the build
# needs, and installing whichever of a list is missing (apt-get, as root or
# through sudo). Kept in one place so the two scripts cannot drift apart.

build_packages=(gcc libc6-dev pkg-config meson ninja-build libhwloc-dev libopenblas-openmp-dev
                libjansson-dev zlib1g-dev libcriterion-dev)
# What the test command needs besides: hwloc's static dependencies, for
# tools/check_install.sh's `pkg-config --static` link of the examples.
test_packages=(libudev-dev)
# clang, its sanitizer and libFuzzer runtimes, and the OpenMP runtime meson
# looks for with clang (the clang, ThreadSanitizer and fuzzing builds).
clang_packages=(clang libclang-rt-14-dev libomp-14-dev)
# The MPI back end's build (-Dmpi=enabled) and its mpirun tests: Open MPI.
mpi_packages=(libopenmpi-dev openmpi-bin)

# install_missing WHO PACKAGE...: WHO prefixes the progress line.
install_missing() {
    local who=$1 missing=() p
    shift
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    echo "$who: installing ${missing[*]}" >&2
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
