package io.lakegate.flink.catalog;

import org.apache.iceberg.rest.RESTCatalog;

import java.util.HashMap;
import java.util.Map;

/**
 * Iceberg's {@link RESTCatalog} with its secrets taken from the environment of the JVM it runs in, never from
 * its properties: catalog properties travel in job graphs and savepoints, and appear in Flink's logs.
 * The property {@value #TOKEN_ENV} names the variable holding the bearer token (lakegate's
 * {@code LAKEGATE_CATALOG_TOKEN}), {@value #CREDENTIAL_ENV} the one holding OAuth2 client credentials
 * ({@code LAKEGATE_CATALOG_CREDENTIAL}, {@code client_id:client_secret}). A value that is set and not empty
 * becomes the {@code token} or {@code credential} property here, in the JVM that talks to the catalog (the
 * client, and every TaskManager that commits), with {@code rest.auth.type=oauth2}. Unset, the catalog is used
 * without it.
 */
public class EnvRestCatalog extends RESTCatalog {

    /** The property naming the environment variable with the bearer token. */
    public static final String TOKEN_ENV = "lakegate.token-env";
    /** The property naming the environment variable with the OAuth2 client credentials. */
    public static final String CREDENTIAL_ENV = "lakegate.credential-env";
    /** Iceberg's property choosing how the client authenticates. */
    static final String AUTH_TYPE = "rest.auth.type";

    @Override
    public void initialize(String name, Map<String, String> properties) {
        super.initialize(name, resolved(properties, System.getenv()));
    }

    /**
     * {@code properties} without {@value #TOKEN_ENV} and {@value #CREDENTIAL_ENV}, with {@code token} and
     * {@code credential} from the variables they name in {@code env}.
     */
    public static Map<String, String> resolved(Map<String, String> properties, Map<String, String> env) {
        Map<String, String> out = new HashMap<>(properties);
        boolean authenticated = fromEnv(out, TOKEN_ENV, "token", env) | fromEnv(out, CREDENTIAL_ENV, "credential", env);
        if (authenticated) {
            // What Iceberg infers from a token or credential, said outright (it warns on every catalog otherwise).
            out.putIfAbsent(AUTH_TYPE, "oauth2");
        }
        return out;
    }

    private static boolean fromEnv(Map<String, String> out, String naming, String property, Map<String, String> env) {
        String variable = out.remove(naming);
        String value = variable == null ? null : env.get(variable);
        if (value == null || value.isEmpty()) {
            return false;
        }
        out.put(property, value);
        return true;
    }
}
