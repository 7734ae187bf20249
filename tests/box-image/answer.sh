#!/bin/sh
echo "${BERTH_BOX_ID:-?}"
