"""Build the kssl package without CMake (setuptools, offline):

    /usr/bin/python3 -m pip install --no-build-isolation ./pybind

compiles libkssl's sources (../src, ../ktls) into the _kssl extension and
links the system OpenSSL (libssl-dev). --no-build-isolation uses the
installed setuptools instead of fetching one.
"""
import glob
import os

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def rel(pattern):
    return sorted(os.path.relpath(p, here)
                  for p in glob.glob(os.path.join(root, pattern)))


sources = (rel("pybind/*.c") + rel("src/*.c") + rel("ktls/*.c"))

setup(
    name="kssl",
    version="0.1.0",
    description="The ssl module's interface with Linux kernel TLS offload",
    packages=["kssl", "kssl.asyncio"],
    package_dir={"kssl": "kssl", "kssl.asyncio": "kssl/asyncio"},
    ext_modules=[Extension(
        "kssl._kssl", sources=sources,
        include_dirs=[os.path.relpath(os.path.join(root, "include"), here)],
        define_macros=[("_GNU_SOURCE", None)],
        extra_compile_args=["-std=gnu11", "-fvisibility=hidden"],
        libraries=["ssl", "crypto"],
    )],
    python_requires=">=3.8",
)
