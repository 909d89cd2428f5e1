# Chat-template interpreter tests (goldens rendered by jinja2: tests/tools/gen-chat-template-goldens.py).
kvmix_add_test(NAME test-chat-template SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test-chat-template.cpp LIBS inference LABELS "unit")
