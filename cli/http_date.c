/*
 * HTTP dates (RFC 9110 section 5.6.7). We send IMF-fixdate and accept the
 * three forms a recipient must: IMF-fixdate, the obsolete RFC 850 form and
 * asctime's. Parsing is by fixed layout with every field range-checked and
 * no normalisation, so a time we accept always prints back as the same
 * instant: "31 Feb" or a year that would need five digits is refused, not
 * rolled over into another date.
 */
#include "http.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char wdays[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char wdays_long[7][10] = { "Sunday", "Monday", "Tuesday", "Wednesday",
					"Thursday", "Friday", "Saturday" };
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* The last second a four-digit year can print: 9999-12-31T23:59:59Z. */
#define HTTP_DATE_MAX ((time_t)253402300799)

struct civil {
	int year, mon, day, hour, min, sec; /* mon 1..12 */
};

/* Days since 1970-01-01 of a proleptic Gregorian date (mon 1..12). */
static long long days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
	static const int n[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return n[m - 1] + (m == 2 && leap);
}

/* Read exactly n decimal digits at *p. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool lit(const char **p, const char *s)
{
	size_t n = strlen(s);

	if (strncmp(*p, s, n))
		return false;
	*p += n;
	return true;
}

static bool month(const char **p, int *mon)
{
	for (int i = 0; i < 12; i++)
		if (lit(p, months[i])) {
			*mon = i + 1;
			return true;
		}
	return false;
}

/* hour ":" minute ":" second */
static bool clock_time(const char **p, struct civil *c)
{
	return digits(p, 2, &c->hour) && lit(p, ":") && digits(p, 2, &c->min) &&
	       lit(p, ":") && digits(p, 2, &c->sec);
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static bool imf_fixdate(const char *p, struct civil *c)
{
	for (int i = 0; i < 7; i++)
		if (lit(&p, wdays[i]))
			return lit(&p, ", ") && digits(&p, 2, &c->day) && lit(&p, " ") &&
			       month(&p, &c->mon) && lit(&p, " ") && digits(&p, 4, &c->year) &&
			       lit(&p, " ") && clock_time(&p, c) && lit(&p, " GMT") && !*p;
	return false;
}

/*
 * "Sunday, 06-Nov-94 08:49:37 GMT". A two-digit year that would be more
 * than 50 years ahead of now is the latest past year with those digits.
 */
static bool rfc850_date(const char *p, struct civil *c, time_t now)
{
	struct tm tm;
	int yy, cur;

	for (int i = 0; i < 7; i++)
		if (lit(&p, wdays_long[i]))
			goto day;
	return false;
day:
	if (!(lit(&p, ", ") && digits(&p, 2, &c->day) && lit(&p, "-") &&
	      month(&p, &c->mon) && lit(&p, "-") && digits(&p, 2, &yy) && lit(&p, " ") &&
	      clock_time(&p, c) && lit(&p, " GMT") && !*p))
		return false;
	if (!gmtime_r(&now, &tm))
		return false;
	cur = tm.tm_year + 1900;
	c->year = cur - cur % 100 + yy;
	if (c->year > cur + 50)
		c->year -= 100;
	return true;
}

/* "Sun Nov  6 08:49:37 1994" */
static bool asctime_date(const char *p, struct civil *c)
{
	for (int i = 0; i < 7; i++)
		if (lit(&p, wdays[i]))
			goto month;
	return false;
month:
	if (!(lit(&p, " ") && month(&p, &c->mon) && lit(&p, " ")))
		return false;
	if (*p == ' ') {
		p++;
		if (!digits(&p, 1, &c->day))
			return false;
	} else if (!digits(&p, 2, &c->day)) {
		return false;
	}
	return lit(&p, " ") && clock_time(&p, c) && lit(&p, " ") && digits(&p, 4, &c->year) &&
	       !*p;
}

time_t http_parse_date(const char *s)
{
	struct civil c;
	long long t;

	memset(&c, 0, sizeof(c));
	if (!imf_fixdate(s, &c) && !rfc850_date(s, &c, time(NULL)) && !asctime_date(s, &c))
		return 0;
	/* second 60 is a leap second (RFC 9110 allows it); it counts as :59
	 * plus one, which the range check below keeps within four digits. */
	if (c.year < 1970 || c.day < 1 || c.day > month_days(c.year, c.mon) || c.hour > 23 ||
	    c.min > 59 || c.sec > 60)
		return 0;
	t = days_from_civil(c.year, c.mon, c.day) * 86400LL + c.hour * 3600 + c.min * 60 + c.sec;
	if (t <= 0 || t > HTTP_DATE_MAX)
		return 0;
	return (time_t)t;
}

void http_date(time_t t, char *out, size_t len)
{
	struct tm tm;

	if (t < 0 || t > HTTP_DATE_MAX || !gmtime_r(&t, &tm)) {
		t = t < 0 ? 0 : HTTP_DATE_MAX;
		gmtime_r(&t, &tm);
	}
	snprintf(out, len, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
