# Embeds the Redis engine's Lua scripts as C strings, run at build time:
#   cmake -DOUT=redis_scripts.c -DSCRIPTS=a.lua,b.lua -P embed_scripts.cmake
# For each NAME.lua it defines `const char redis_script_NAME[]` (the text,
# NUL-terminated) and `const size_t redis_script_NAME_len` (its length
# without the NUL), declared in src/engine/redis_scripts.h. The bytes are
# written as hex so that any character in a script survives unchanged.
set(out "/* Generated from the .lua files in src/engine/redis by cmake/embed_scripts.cmake; do not edit. */\n")
string(APPEND out "#include <stddef.h>\n")
string(REPLACE "," ";" SCRIPTS "${SCRIPTS}")
foreach(path ${SCRIPTS})
    get_filename_component(name ${path} NAME_WE)
    file(READ ${path} hex HEX)
    string(LENGTH "${hex}" hex_len)
    math(EXPR len "${hex_len} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
    string(APPEND out "extern const char redis_script_${name}[];\n")
    string(APPEND out "extern const size_t redis_script_${name}_len;\n")
    string(APPEND out "const char redis_script_${name}[] = {\n${bytes}0x00};\n")
    string(APPEND out "const size_t redis_script_${name}_len = ${len};\n")
endforeach()
file(WRITE ${OUT}.tmp "${out}")
file(RENAME ${OUT}.tmp ${OUT})
