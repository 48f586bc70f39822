"""PEP 517 build backend for the kssl Python package (in-tree, offline).

`pip install .` and `pip wheel .` at the repository root use this module
(pyproject.toml: backend-path = ["pybind"]). It needs no build
requirements at all, so pip's isolated build environment installs nothing
and the build works without a package index and on interpreters that lack
setuptools or wheel (pyenv builds, minimal images).

What a build needs on the machine: a C compiler (`cc`, or $CC), OpenSSL 3
headers and libraries (Debian: libssl-dev) and the interpreter's headers
(Debian: python3-dev; pyenv builds ship them). The extension compiles
libkssl's own sources (src/, ktls/) into kssl/_kssl and links the system
libssl and libcrypto; nothing in the result names the source tree.
"""
import base64
import concurrent.futures
import hashlib
import io
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

NAME = "kssl"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = "The ssl module's interface with Linux kernel TLS offload"


def _version():
    """The project version, from the one place it is set (CMakeLists.txt)."""
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\(kssl VERSION ([0-9.]+)", f.read())
    if not m:
        raise RuntimeError("no project(kssl VERSION ...) in CMakeLists.txt")
    return m.group(1)


def _tag():
    """The wheel tag of the running interpreter, e.g. cp311-cp311-linux_x86_64."""
    impl = "cp%d%d" % sys.version_info[:2]
    abi = impl + (getattr(sys, "abiflags", "") or "")
    plat = re.sub(r"[-.]", "_", sysconfig.get_platform())
    return "%s-%s-%s" % (impl, abi, plat)


def _metadata():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "License: see the source repository\nRequires-Python: >=3.8\n"
            "Description-Content-Type: text/markdown\n\n%s"
            % (NAME, _version(), SUMMARY, readme))


def _sources():
    out = []
    for sub in ("pybind", "src", "ktls"):
        d = os.path.join(ROOT, sub)
        out += sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".c"))
    return out


def _compile(build_dir):
    """Compile the extension into build_dir; returns its path."""
    cc = shlex.split(os.environ.get("CC", "cc"))
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        raise RuntimeError("no Python.h in %s: install the interpreter's "
                           "headers (Debian: python3-dev)" % include)
    cflags = ["-std=gnu11", "-O2", "-g0", "-fPIC", "-fvisibility=hidden",
              "-fno-strict-aliasing", "-D_GNU_SOURCE",
              "-I" + os.path.join(ROOT, "include"), "-I" + ROOT, "-I" + include,
              "-fmacro-prefix-map=%s/=" % ROOT]

    def one(src):
        obj = os.path.join(build_dir, os.path.relpath(src, ROOT).replace(os.sep, "_") + ".o")
        subprocess.run(cc + cflags + ["-c", src, "-o", obj], check=True)
        return obj

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        objs = list(pool.map(one, _sources()))
    ext = os.path.join(build_dir, "_kssl" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(cc + ["-shared", "-o", ext] + objs + ["-lssl", "-lcrypto", "-lpthread"],
                   check=True)
    return ext


def _package_files():
    """(path in the wheel, path on disk) for every .py file of the package."""
    base = os.path.join(ROOT, "pybind", NAME)
    for d, dirs, files in os.walk(base):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for n in sorted(files):
            if n.endswith(".py"):
                full = os.path.join(d, n)
                yield os.path.join(NAME, os.path.relpath(full, base)), full


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "%s,sha256=%s,%d" % (arcname, digest.decode(), len(data))


def _write_wheel(wheel_directory, files, dist_info_extra=()):
    """files: [(arcname, bytes)]. Returns the wheel's file name."""
    tag = _tag()
    dist_info = "%s-%s.dist-info" % (NAME, _version())
    wheel_name = "%s-%s-%s.whl" % (NAME, _version(), tag)
    meta = [(dist_info + "/METADATA", _metadata().encode()),
            (dist_info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: kssl build_backend\n"
                                    "Root-Is-Purelib: false\nTag: %s\n" % tag).encode()),
            (dist_info + "/top_level.txt", (NAME + "\n").encode())]
    meta += list(dist_info_extra)
    record = [_record_line(a, d) for a, d in list(files) + meta]
    record.append(dist_info + "/RECORD,,")
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for arcname, data in list(files) + meta:
            z.writestr(arcname, data)
        z.writestr(dist_info + "/RECORD", "\n".join(record) + "\n")
    return wheel_name


# PEP 517 hooks.

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with tempfile.TemporaryDirectory(prefix="kssl-build-") as tmp:
        ext = _compile(tmp)
        files = []
        for arcname, full in _package_files():
            with open(full, "rb") as f:
                files.append((arcname, f.read()))
        with open(ext, "rb") as f:
            files.append((NAME + "/" + os.path.basename(ext), f.read()))
        return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """`pip install -e .`: the extension goes into pybind/kssl (ignored by
    git), and a .pth file puts pybind/ on sys.path."""
    _compile_into(os.path.join(ROOT, "pybind", NAME))
    pth = (os.path.join(ROOT, "pybind") + "\n").encode()
    return _write_wheel(wheel_directory, [("__editable__.%s.pth" % NAME, pth)])


def _compile_into(dest):
    with tempfile.TemporaryDirectory(prefix="kssl-build-") as tmp:
        ext = _compile(tmp)
        target = os.path.join(dest, os.path.basename(ext))
        with open(ext, "rb") as src, open(target, "wb") as dst:
            dst.write(src.read())
    return target


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, _version())
    name = base + ".tar.gz"
    keep = ("pyproject.toml", "CMakeLists.txt", "README.md", "include", "src",
            "ktls", "pybind")
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for top in keep:
            tar.add(os.path.join(ROOT, top), arcname=base + "/" + top,
                    filter=lambda ti: None if "__pycache__" in ti.name
                    or ti.name.endswith(".so") else ti)
        info = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
                % (NAME, _version(), SUMMARY)).encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(info)
        tar.addfile(ti, io.BytesIO(info))
    return name
