# The command of berth_embed_text (EmbedText.cmake): cmake -DINPUT= -DOUTPUT= -DSYMBOL=
# -DNAMESPACE= -DHEADER= -P embed_text_script.cmake
file(READ "${INPUT}" text)
set(delimiter "berth_embed")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} holds \")${delimiter}\"\", which would end its literal")
endif()
set(content "// Generated from ${INPUT} by cmake/embed_text_script.cmake; do not edit.
#include \"${HEADER}\"

namespace ${NAMESPACE} {

const char ${SYMBOL}[] = R\"${delimiter}(${text})${delimiter}\";

}  // namespace ${NAMESPACE}
")
file(WRITE "${OUTPUT}" "${content}")
