/* `kssl serve --user NAME`: give up root once the port and key are held. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "serve.h"

int drop_privileges(const char *user)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		fprintf(stderr, "kssl serve: --user %s: %s\n", user,
			errno ? strerror(errno) : "no such user");
		return -1;
	}
	/* Groups first (they need root), then the gid, the uid last. */
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 ||
	    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "kssl serve: --user %s: %s\n", user,
			strerror(errno));
		return -1;
	}
	/* setuid() as root sets the real, effective and saved ids: there is
	 * no way back. Check it rather than trust it. */
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0 ||
				getuid() != pw->pw_uid ||
				geteuid() != pw->pw_uid)) {
		fprintf(stderr, "kssl serve: --user %s: root could be regained\n",
			user);
		return -1;
	}
	return 0;
}
