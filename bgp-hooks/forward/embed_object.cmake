# cmake -DIN=object.o -DOUT=object.cc -DNAME=kSymbol -P embed_object.cmake
# Writes the compiled eBPF object into a C++ array, so that cdn-hooks carries its own program
# and never loads one from a path someone else could write.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}" "// Generated from ${IN} by embed_object.cmake.\n"
  "#include \"bgp-hooks/forward/stray_forward_object.h\"\n\n"
  "namespace anyedge::hooks {\n"
  "alignas(8) const unsigned char ${NAME}[] = {\n${bytes}\n};\n"
  "const unsigned long ${NAME}Size = ${size};\n"
  "}  // namespace anyedge::hooks\n")
