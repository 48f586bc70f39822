"""Run test modules of CPython's own suite (Lib/test) with `ssl` or with
kssl in its place, and print each test's outcome as one JSON object on
the last line.

usage: cpython_suite.py ssl|kssl NAME...

NAME is a module (test.test_ssl) or one test's id. With "kssl",
kssl.install() runs before the modules are imported, so every `import
ssl` / `from ssl import ...` in them and in the stdlib modules they test
is kssl (direct uses of `_ssl` stay the stdlib's, as they would for any
program). The suite comes from the interpreter's own `test` package
(Debian: libpython3.11-testsuite), so it matches the stdlib imitated.
"""
import json
import sys
import unittest


class Outcomes(unittest.TextTestResult):
    """Records test id -> ok / fail / error / skip / xfail / xpass."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.outcomes = {}

    def _set(self, test, what):
        self.outcomes[test.id()] = what

    def addSuccess(self, test):
        super().addSuccess(test)
        self._set(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set(test, "fail")

    def addError(self, test, err):
        super().addError(test, err)
        self._set(test, "error")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._set(test, "skip")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._set(test, "xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set(test, "xpass")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._set(test, "fail")


def main():
    mode, names = sys.argv[1], sys.argv[2:]
    if mode == "kssl":
        import kssl
        kssl.install()
    import ssl
    assert (ssl.__name__ == "kssl") == (mode == "kssl"), ssl
    suite = unittest.TestLoader().loadTestsFromNames(names)
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=Outcomes)
    result = runner.run(suite)
    sys.stdout.write("\n" + json.dumps(result.outcomes) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
