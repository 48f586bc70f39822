"""python3 -m kssl run: an unmodified program with kssl in place of ssl.

    python3 -m kssl run app.py ARGS...       # as: python3 app.py ARGS...
    python3 -m kssl run -m module ARGS...    # as: python3 -m module ARGS...
    python3 -m kssl probe                    # what the kernel offers

kssl.install() runs first, then the program as __main__ (runpy), with
sys.argv and sys.path[0] as the plain interpreter would set them.
"""
import os
import runpy
import sys

USAGE = ("usage: python3 -m kssl run SCRIPT [ARGS...]\n"
         "       python3 -m kssl run -m MODULE [ARGS...]\n"
         "       python3 -m kssl probe")


def _run(args):
    import kssl
    if not args or (args[0] == "-m" and len(args) < 2):
        sys.exit(USAGE)
    kssl.install()
    if args[0] == "-m":
        # As `python3 -m`: argv[0] becomes the module's file (runpy sets
        # it); sys.path[0] is already the current directory.
        sys.argv = args[1:]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        # As `python3 script`: the script's directory first on sys.path.
        sys.argv = list(args)
        sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
        runpy.run_path(args[0], run_name="__main__")


def main(argv):
    if argv[:1] == ["run"]:
        _run(argv[1:])
    elif argv == ["probe"]:
        import kssl
        for key, value in kssl.probe().items():
            print("%s: %s" % (key, value))
    else:
        sys.exit(USAGE)


if __name__ == "__main__":
    main(sys.argv[1:])
