/*
 * req_reply.c - small pieces of EC2 response XML and MaxResults/NextToken paging.
 *
 * Times are ISO 8601 UTC with milliseconds, as EC2 writes them
 * (2026-11-22T03:17:54.000Z).  Paging is keyset paging: a NextToken is the
 * key of the last item sent, so a page costs the same however deep it is,
 * and a token is useless for reading another user's items (every query is
 * restricted to the caller's resources first).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clc.h"
#include "core/error.h"

/*
 * An element is written as one append when it is short and its text needs
 * no escaping (ids, states, addresses, numbers: nearly all of them): a
 * DescribeInstances of 10,000 instances writes ~300,000 elements, and
 * printf's machinery, then an append per bracket, were a large part of its
 * time (docs/decisions.md).  Anything else goes through the one escaper.
 */
#define PIECE_MAX 256

/*
 * Length of text if every byte is one kr_buf_add_xml copies unchanged
 * (printable ASCII but & < > " ') and there are fewer than max; else max.
 */
static size_t
plain_len(const char *text, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\0')
			return i;
		if (c < 0x20 || c > 0x7e || c == '&' || c == '<' || c == '>' || c == '"' ||
		    c == '\'')
			return max;
	}
	return max;
}

/* <tag>text</tag> (text already escaped, t bytes) into piece: its length. */
static size_t
piece_put(char *piece, const char *tag, size_t n, const char *text, size_t t)
{
	char *p = piece;

	*p++ = '<';
	memcpy(p, tag, n);
	p += n;
	*p++ = '>';
	memcpy(p, text, t);
	p += t;
	*p++ = '<';
	*p++ = '/';
	memcpy(p, tag, n);
	p += n;
	*p++ = '>';
	return (size_t)(p - piece);
}

/* Room for the text in a piece with this tag (0: none). */
static size_t
piece_room(size_t n)
{
	return 2 * n + 5 < PIECE_MAX ? PIECE_MAX - (2 * n + 5) : 0;
}

void
clc_xml_elem(struct kr_buf *b, const char *tag, const char *text)
{
	char piece[PIECE_MAX];
	size_t n = strlen(tag), room = piece_room(n), t;

	if (text == NULL)
		text = "";
	if (room && (t = plain_len(text, room)) < room) {
		kr_buf_add_len(b, piece, piece_put(piece, tag, n, text, t));
		return;
	}
	kr_buf_add_char(b, '<');
	kr_buf_add_len(b, tag, n);
	kr_buf_add_char(b, '>');
	kr_buf_add_xml(b, text);
	kr_buf_add_len(b, "</", 2);
	kr_buf_add_len(b, tag, n);
	kr_buf_add_char(b, '>');
}

void
clc_xml_elem_int(struct kr_buf *b, const char *tag, long long v)
{
	char digits[24], *p = digits + sizeof(digits);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	*--p = '\0';
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	clc_xml_elem(b, tag, p);
}

/* Rows of one reservation share a launch time: remember the last one formatted. */
void
clc_xml_time(struct kr_buf *b, const char *tag, time_t t)
{
	static time_t last = -1;
	static char s[40];
	struct tm tm;

	if (t != last) {
		gmtime_r(&t, &tm);
		strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
		last = t;
	}
	clc_xml_elem(b, tag, s);
}

/* A text column as an element; NULL columns are left out, as EC2 does. */
void
clc_xml_col(struct kr_buf *b, const char *tag, sqlite3_stmt *st, int col)
{
	const char *v = (const char *)sqlite3_column_text(st, col);

	if (v)
		clc_xml_elem(b, tag, v);
}

int
clc_return_true(struct clc_req *r)
{
	kr_buf_add(r->out, "<return>true</return>");
	return 0;
}

int
clc_pager_init(const struct clc_req *r, long min, long max, struct clc_pager *p)
{
	memset(p, 0, sizeof(*p));
	if (clc_param_int(r, "MaxResults", min, max, 0, &p->max) < 0)
		return -1;
	p->after = clc_param(r, "NextToken");
	if (p->after && (*p->after == '\0' || strlen(p->after) > 128)) {
		kr_error("InvalidParameterValue", "the NextToken is not valid");
		return -1;
	}
	return 0;
}

bool
clc_pager_take(struct clc_pager *p)
{
	if (p->max && p->count >= p->max)
		return false;
	p->count++;
	return true;
}

void
clc_pager_finish(const struct clc_req *r, const struct clc_pager *p, const char *last)
{
	if (p->max && p->count >= p->max && last)
		clc_xml_elem(r->out, "nextToken", last);
}
