/*
 * id.h - EC2-style resource ids: "i-1a2b3c4d", "vol-0f0e0d0c", "snap-...".
 *
 * Ids are 32 random bits from getrandom(), not a counter: they reveal
 * nothing about how many resources exist and need no shared state between
 * daemons.  Random ids can collide (after ~77,000 instances the chance
 * that some pair has collided reaches 50%), so the database's UNIQUE (or
 * PRIMARY KEY) constraint on the id column is the collision guard: callers
 * insert, and on a constraint violation draw a new id and retry.
 * kr_db_insert_new_id() in db.h does exactly that.
 *
 * Karri makes 8 lowercase hex digits as Eucalyptus and EC2 did before
 * 2016; kr_id_valid() also accepts EC2's 17-digit ids, which clients may
 * echo from another cloud.
 */
#ifndef KARRI_ID_H
#define KARRI_ID_H

#include <stdbool.h>
#include <stddef.h>

#define KR_ID_PREFIX_MAX 16	/* "i", "r", "vol", "snap", "emi", "eki", "eri", "sg", ... */
#define KR_ID_MAX (KR_ID_PREFIX_MAX + 1 + 17 + 1)	/* a buffer that fits any id */

/*
 * "i" -> "i-" + 8 lowercase hex digits into out.  The prefix is 1..16
 * lowercase letters.  -1 + kr_error("InternalError") if outlen is too small
 * or the prefix is malformed (both are bugs in the caller).
 */
int kr_id_new(const char *prefix, char *out, size_t outlen);

/*
 * Exactly prefix, '-', 8 or 17 lowercase hex digits.  prefix NULL accepts
 * any prefix of 1..16 lowercase letters.  Ids are case-sensitive, as in
 * EC2: "i-1A2B3C4D" is not an id Karri made.
 */
bool kr_id_valid(const char *id, const char *prefix);

/*
 * Eucalyptus-style instance MAC: mac_prefix (NULL: "d0:0d") followed by
 * the instance id's 8 hex digits as 4 octets, "i-1234abcd" ->
 * "d0:0d:12:34:ab:cd".  -1 + kr_error("InvalidParameterValue") for an id
 * that is not "i-" + 8 hex digits or a prefix that is not two hex octets.
 */
int kr_id_mac_from_instance(const char *instance_id, const char *mac_prefix, char out[18]);

#endif
