/*
 * fuzz_id.c - libFuzzer target for the message id text form.
 *
 * The whole input is one candidate id, parsed from an exact-size heap copy
 * so ASan sees a read past len. When it parses, id_format must give back
 * exactly the input (the text form is canonical: one spelling per id), the
 * seq must lie in 1..2^63-1, and the same bytes followed by a space must
 * fail. Ids are also built from three slices of the input, formatted and
 * parsed back, and id_cmp must be a consistent order on them: reflexive,
 * antisymmetric, transitive and agreeing with (epoch, seq).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "hub/id.h"

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_id: invariant failed: %s\n", what);
		abort();
	}
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

/* Parses data[0..size) from an exact-size copy and checks the canonical form. */
static void fuzz_parse(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	check(copy != NULL, "malloc");
	memcpy(copy, data, size);
	struct id id = {.epoch = 0x5a5a5a5a, .seq = 0x5a5a};
	int rc = id_parse(copy, size, &id);
	check(rc == 0 || rc == CRIER_EINVAL, "error other than EINVAL");
	if (rc != 0) {
		check(id.epoch == 0x5a5a5a5a && id.seq == 0x5a5a, "*out written on failure");
		free(copy);
		return;
	}
	check(id.seq >= 1 && id.seq < (uint64_t)1 << 63, "seq out of range");
	char text[ID_STR_MAX];
	size_t n = id_format(&id, text);
	check(n == size && memcmp(text, data, size) == 0, "format(parse(s)) != s");
	check(text[n] == '\0', "format without NUL");
	/* A trailing space (or any non-digit) makes it not an id. */
	copy[size] = ' ';
	struct id extra;
	check(id_parse(copy, size + 1, &extra) == CRIER_EINVAL, "accepted a trailing byte");
	free(copy);
}

/* Reads an id from up to 12 bytes: 4 of epoch, 8 of seq (top bit cleared). */
static struct id id_from(const uint8_t *p, size_t n)
{
	uint8_t b[12] = {0};
	memcpy(b, p, n < sizeof(b) ? n : sizeof(b));
	struct id id = {0};
	for (size_t i = 0; i < 4; i++)
		id.epoch = id.epoch << 8 | b[i];
	for (size_t i = 4; i < 12; i++)
		id.seq = id.seq << 8 | b[i];
	id.seq &= ~((uint64_t)1 << 63);
	if (id.seq == 0)
		id.seq = 1;
	return id;
}

static int expect_cmp(const struct id *a, const struct id *b)
{
	if (a->epoch != b->epoch)
		return a->epoch < b->epoch ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Round-trips built ids through the text form and checks the order. */
static void fuzz_order(const uint8_t *data, size_t size)
{
	struct id ids[3] = {
	        id_from(data, size / 2),
	        id_from(data + size / 2, size - size / 2),
	        id_from(data + size / 3, size - size / 3),
	};
	for (size_t i = 0; i < 3; i++) {
		char text[ID_STR_MAX];
		struct id back;
		size_t n = id_format(&ids[i], text);
		check(id_parse(text, n, &back) == 0, "formatted id does not parse");
		check(id_cmp(&back, &ids[i]) == 0, "formatted id parses to another id");
	}
	for (size_t i = 0; i < 3; i++) {
		check(id_cmp(&ids[i], &ids[i]) == 0, "not reflexive");
		for (size_t j = 0; j < 3; j++) {
			int ij = sign(id_cmp(&ids[i], &ids[j]));
			check(ij == -sign(id_cmp(&ids[j], &ids[i])), "not antisymmetric");
			check(ij == expect_cmp(&ids[i], &ids[j]), "not (epoch, seq) order");
			for (size_t k = 0; k < 3; k++)
				if (ij <= 0 && sign(id_cmp(&ids[j], &ids[k])) <= 0)
					check(sign(id_cmp(&ids[i], &ids[k])) <= 0,
					      "not transitive");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(data, size);
	fuzz_order(data, size);
	return 0;
}
