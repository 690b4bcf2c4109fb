#!/bin/bash
# devstack/plugin.sh - the Cyborg-NG devstack plugin
#
# devstack calls it as ``plugin.sh MODE PHASE`` (see devstack's plugins.rst) after
# sourcing devstack/settings, which sets CYBORG_DIR.

# shellcheck source=devstack/lib/cyborg
source "$CYBORG_DIR/devstack/lib/cyborg"

if is_cyborg_enabled; then
    if [[ "$1" == "stack" ]]; then
        case "$2" in
            install)
                # Called after the core services' sources and dependencies are in.
                echo_summary "Installing Cyborg"
                install_cyborg
                ;;
            post-config)
                # Called after the core services are configured; Keystone is up.
                echo_summary "Configuring Cyborg"
                configure_cyborg
                if is_service_enabled key && is_service_enabled cyborg-api; then
                    create_cyborg_accounts
                fi
                configure_nova_for_cyborg
                ;;
            extra)
                # Called near the end, with the core services (Placement, Nova) running.
                echo_summary "Initializing and starting Cyborg"
                init_cyborg
                start_cyborg
                check_cyborg
                ;;
        esac
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_cyborg
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_cyborg
    fi
fi
