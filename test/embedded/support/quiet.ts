/**
 * Imported first by the embedded tests: fabric-shim and fabric-contract-api read the log
 * level when their loggers are created, and log every transaction at INFO otherwise.
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'ERROR';
