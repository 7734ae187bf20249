# berth_embed_text(OUTPUT <file.cc> INPUT <file> SYMBOL <name> NAMESPACE <ns> HEADER <include>)
#
# Generates, at build time, <file.cc> defining `const char <ns>::<name>[]` as the exact bytes of
# <file> (a raw string literal), declared in <include>; regenerated whenever <file> changes.
# Text only: the file may hold no NUL byte, nor the literal's closing delimiter.
function(berth_embed_text)
  cmake_parse_arguments(ARG "" "OUTPUT;INPUT;SYMBOL;NAMESPACE;HEADER" "" ${ARGN})
  add_custom_command(
    OUTPUT "${ARG_OUTPUT}"
    COMMAND "${CMAKE_COMMAND}" "-DINPUT=${ARG_INPUT}" "-DOUTPUT=${ARG_OUTPUT}"
            "-DSYMBOL=${ARG_SYMBOL}" "-DNAMESPACE=${ARG_NAMESPACE}" "-DHEADER=${ARG_HEADER}"
            -P "${PROJECT_SOURCE_DIR}/cmake/embed_text_script.cmake"
    DEPENDS "${ARG_INPUT}" "${PROJECT_SOURCE_DIR}/cmake/embed_text_script.cmake"
    COMMENT "Embedding ${ARG_INPUT}"
    VERBATIM)
endfunction()
