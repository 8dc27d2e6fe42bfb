/**
 * Imported first by the web tests, before anything loads fabric-shim: these tests provoke refusals
 * on purpose, and the chaincode logs every refusal as an error. A level set by the caller wins.
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL ??= 'CRITICAL';
