# Install rules and the Debian package (CPack DEB): the kvmix CLI, the kvmix-chat GUI
# when it is built, desktop entry, AppStream metainfo, hicolor icons and man pages.
# installer/package.sh drives it; included last by the top-level CMakeLists.txt so every
# target exists.
set(CMAKE_INSTALL_DOCDIR share/doc/kvmix-chat)
include(GNUInstallDirs)

set(KVMIX_APP_ID io.github.kvmix.KvmixChat)
set(KVMIX_RES ${CMAKE_SOURCE_DIR}/resources)

install(TARGETS kvmix RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET kvmix-chat)
  install(TARGETS kvmix-chat RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(FILES ${KVMIX_RES}/linux/${KVMIX_APP_ID}.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
  install(FILES ${KVMIX_RES}/linux/${KVMIX_APP_ID}.metainfo.xml DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
  foreach(size 16 24 32 48 64 128 256 512)
    install(FILES ${KVMIX_RES}/icons/kvmix-chat-${size}.png
            DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/${size}x${size}/apps RENAME kvmix-chat.png)
  endforeach()
  install(FILES ${KVMIX_RES}/icons/kvmix-chat.svg DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
endif()

# Man pages are installed gzipped, as Debian policy wants; -n keeps the archive reproducible.
set(KVMIX_MAN_PAGES kvmix.1)
if(TARGET kvmix-chat)
  list(APPEND KVMIX_MAN_PAGES kvmix-chat.1)
endif()
set(KVMIX_MAN_OUTPUTS)
foreach(page ${KVMIX_MAN_PAGES})
  set(out ${CMAKE_BINARY_DIR}/man/${page}.gz)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND gzip -9n -c ${KVMIX_RES}/man/${page} > ${out}
    DEPENDS ${KVMIX_RES}/man/${page}
    VERBATIM)
  list(APPEND KVMIX_MAN_OUTPUTS ${out})
endforeach()
add_custom_target(kvmix_man_pages ALL DEPENDS ${KVMIX_MAN_OUTPUTS})
install(FILES ${KVMIX_MAN_OUTPUTS} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kvmix-chat)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "KVmix Chat")
set(CPACK_PACKAGE_CONTACT "KVmix Chat maintainers <maintainers@kvmix-chat.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Local LLM chat with a mixed-precision (KVmix) KV cache")
set(CPACK_PACKAGE_DESCRIPTION
  "KVmix Chat runs language models (GGUF, safetensors) on the local machine with its own
inference engine, whose KV cache is quantized per layer (KVmix). Includes the desktop
application kvmix-chat and the command-line tool kvmix.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared-library dependencies (Qt, sentencepiece, SQLite, libstdc++) come from
# dpkg-shlibdeps; the QML modules and Qt's SQLite driver are plugins loaded at run time,
# so they are listed by hand.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The package is built CPU-only (installer/package.sh): a CUDA build would link CUDA
# libraries that no Debian package provides.
set(KVMIX_QML_RUNTIME_PACKAGES qml6-module-qtquick qml6-module-qtquick-controls
  qml6-module-qtquick-layouts qml6-module-qtquick-window qml6-module-qtquick-templates
  qml6-module-qtquick-dialogs qml6-module-qtqml qml6-module-qtqml-models
  qml6-module-qtqml-workerscript libqt6sql6-sqlite
  # Models answer in any script: a fallback font with CJK glyphs (DejaVu has none).
  "fonts-noto-cjk | fonts-wqy-microhei | fonts-droid-fallback")
if(TARGET kvmix-chat)
  string(REPLACE ";" ", " CPACK_DEBIAN_PACKAGE_DEPENDS "${KVMIX_QML_RUNTIME_PACKAGES}")
endif()
include(CPack)
