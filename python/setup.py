"""Packaging hook: copies libgat.so from a meson build into the package.

The build folder is LIBGAT_BUILD_DIR (default: ../build, the README's
folder); its src/libgat.so (the versioned file behind the symlink) is
copied to libgat/libgat.so, where libgat/_lib.py looks first after the
LIBGAT_LIBRARY variable. LIBGAT_NO_BUNDLE=1 packages no library (it is then
found through LIBGAT_LIBRARY or the dynamic linker). Everything else is in
pyproject.toml; only Debian's setuptools is needed, no network.
"""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))


def _library():
    build = os.environ.get("LIBGAT_BUILD_DIR", os.path.join(HERE, "..", "build"))
    path = os.path.join(build, "src", "libgat.so")
    if not os.path.exists(path):
        raise SystemExit(
            "libgat setup: %s not found. Build the library first (meson setup build && "
            "ninja -C build) and set LIBGAT_BUILD_DIR to the build folder, or set "
            "LIBGAT_NO_BUNDLE=1 to package without it" % os.path.abspath(path))
    return os.path.realpath(path)


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        if os.environ.get("LIBGAT_NO_BUNDLE") == "1":
            return
        target = os.path.join(self.build_lib, "libgat", "libgat.so")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(_library(), target)
        os.chmod(target, 0o755)


class BinaryDistribution(Distribution):
    """The wheel holds a shared library: tag it for this platform."""

    def has_ext_modules(self):
        return os.environ.get("LIBGAT_NO_BUNDLE") != "1"


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
