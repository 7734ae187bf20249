# The Debian package: `cpack -G DEB` in the build directory makes berth_<version>_amd64.deb
# (scripts/build-deb.sh). It installs the daemons (fleet-agent too) and berthctl, their systemd units and
# target, /run/berth's tmpfiles.d entry, the flag files and the example app profile under
# /etc/berth (conffiles), the Prometheus scrape config and alert rules under
# /usr/share/berth/prometheus, and runs
# deploy/debian/{postinst,prerm,postrm}.
include(GNUInstallDirs)

install(FILES deploy/systemd/berth.target deploy/systemd/berth-allocator.service
              deploy/systemd/berth-docker.service deploy/systemd/berth-gateway.service
              deploy/systemd/berth-fleet.service
        DESTINATION lib/systemd/system)
install(FILES deploy/tmpfiles/berth.conf DESTINATION lib/tmpfiles.d)
install(FILES deploy/etc/allocator.flags deploy/etc/docker-svc.flags deploy/etc/gateway.flags
              deploy/etc/fleet.flags
        DESTINATION /etc/berth)
install(FILES deploy/apps/test-box.textproto DESTINATION /etc/berth/apps)
install(FILES README.md DESTINATION share/doc/berth)
install(FILES deploy/prometheus/berth.yml deploy/prometheus/berth-rules.yml
        DESTINATION share/berth/prometheus)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME berth)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "Berth maintainers <berth@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Host service for per-user containers: resources, Docker lifecycle, HTTPS API")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # berth_<version>_amd64.deb
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
# Debian 12's runtime libraries of what the daemons link. The Docker engine is only recommended:
# docker-svc reaches it through a socket, which may be another system's (a container's host).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libgrpc++1.51, libgrpc29, libprotobuf32, libabsl20220623, libspdlog1.10, libfmt9, \
libsystemd0, libsqlite3-0, libcurl4, libssl3, zlib1g, libpq5, libprometheus-cpp-core1.0, \
libprometheus-cpp-pull1.0, adduser, systemd, init-system-helpers")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "docker.io")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/debian/conffiles;${PROJECT_SOURCE_DIR}/deploy/debian/postinst;\
${PROJECT_SOURCE_DIR}/deploy/debian/prerm;${PROJECT_SOURCE_DIR}/deploy/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
include(CPack)
