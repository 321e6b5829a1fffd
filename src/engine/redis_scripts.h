/*
 * redis_scripts.h - the Redis engine's Lua scripts, embedded at build time.
 *
 * The sources are src/engine/redis/NAME.lua (each opens with the KEYS and
 * ARGV it takes); cmake/embed_scripts.cmake turns each into the text below,
 * NUL-terminated, with its length. Scripts run with EVALSHA under the
 * SHA-1 of this text, so editing a .lua file changes the hash and no node
 * ever runs a stale copy cached by Redis.
 */
#ifndef CRIER_ENGINE_REDIS_SCRIPTS_H
#define CRIER_ENGINE_REDIS_SCRIPTS_H

#include <stddef.h>

extern const char redis_script_publish[]; /* publish.lua */
extern const size_t redis_script_publish_len;
extern const char redis_script_load[]; /* load.lua */
extern const size_t redis_script_load_len;

#endif
