/*
 * witness-cib-watch: follows the local CIB manager's change notifications and writes the whole
 * current CIB to stdout after every change, as frames "CIB <length>\n<length bytes of XML>".
 *
 * This is how `witness-agent watch` learns of a change anywhere in the cluster within
 * milliseconds: the CIB is replicated to every node, and each node's CIB manager notifies its
 * local subscribers of every applied diff (the mechanism crm_mon uses). Resource alerts, by
 * contrast, only fire on the node that ran the operation, and polling cibadmin costs a process
 * per poll.
 *
 * Bursts are coalesced: a notification only marks the CIB dirty and schedules one idle-time query,
 * so a transition that changes the CIB ten times in a row may produce fewer frames, but the last
 * frame always reflects the last change.
 *
 * Exit status: 0 on SIGTERM/SIGINT or when stdout is closed, 2 when the CIB manager cannot be
 * reached or the connection is lost (the Node side restarts us with a back-off).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <glib.h>
#include <glib-unix.h>
#include <crm/crm.h>
#include <crm/cib.h>
#include <crm/common/xml.h>

static cib_t *cib;
static GMainLoop *loop;
static int exit_status;
static guint idle_source;

static void quit_with(int status)
{
    exit_status = status;
    if (loop != NULL) {
        g_main_loop_quit(loop);
    }
}

/* Writes one frame; returns FALSE when stdout is gone. */
static gboolean write_frame(const char *xml)
{
    size_t len = strlen(xml);

    if (printf("CIB %zu\n", len) < 0 || fwrite(xml, 1, len, stdout) != len || fflush(stdout) != 0) {
        return FALSE;
    }
    return TRUE;
}

static gboolean emit_cib(gpointer data)
{
    xmlNode *current = NULL;
    char *text;
    int rc;

    (void) data;
    idle_source = 0;
    rc = cib->cmds->query(cib, NULL, &current, cib_scope_local | cib_sync_call);
    if (rc != pcmk_ok || current == NULL) {
        fprintf(stderr, "witness-cib-watch: CIB query failed: %s\n", pcmk_strerror(rc));
        quit_with(2);
        return G_SOURCE_REMOVE;
    }
    text = dump_xml_unformatted(current);
    free_xml(current);
    if (text == NULL) {
        fprintf(stderr, "witness-cib-watch: cannot serialise the CIB\n");
        quit_with(2);
        return G_SOURCE_REMOVE;
    }
    if (!write_frame(text)) {
        quit_with(0); /* our reader went away */
    }
    free(text);
    return G_SOURCE_REMOVE;
}

static void schedule_emit(void)
{
    if (idle_source == 0) {
        idle_source = g_idle_add(emit_cib, NULL);
    }
}

static void on_diff(const char *event, xmlNode *msg)
{
    (void) event;
    (void) msg;
    schedule_emit();
}

static void on_disconnect(gpointer user_data)
{
    (void) user_data;
    fprintf(stderr, "witness-cib-watch: lost the connection to the CIB manager\n");
    quit_with(2);
}

static gboolean on_signal(gpointer user_data)
{
    (void) user_data;
    quit_with(0);
    return G_SOURCE_REMOVE;
}

int main(void)
{
    int rc;

    signal(SIGPIPE, SIG_IGN);
    /* Pacemaker's client libraries expect their logging (and crm_system_name) initialised, as
     * every Pacemaker command-line tool does; messages go to stderr only with PCMK_debug. */
    crm_log_cli_init("witness-cib-watch");
    cib = cib_new();
    if (cib == NULL) {
        fprintf(stderr, "witness-cib-watch: cannot create a CIB connection object\n");
        return 2;
    }
    rc = cib->cmds->signon(cib, "witness-cib-watch", cib_query);
    if (rc != pcmk_ok) {
        fprintf(stderr, "witness-cib-watch: cannot connect to the CIB manager: %s\n", pcmk_strerror(rc));
        cib_delete(cib);
        return 2;
    }
    if (cib->cmds->set_connection_dnotify(cib, on_disconnect) != pcmk_ok
        || cib->cmds->add_notify_callback(cib, T_CIB_DIFF_NOTIFY, on_diff) != pcmk_ok) {
        fprintf(stderr, "witness-cib-watch: cannot subscribe to CIB change notifications\n");
        cib->cmds->signoff(cib);
        cib_delete(cib);
        return 2;
    }
    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, NULL);
    g_unix_signal_add(SIGINT, on_signal, NULL);
    schedule_emit(); /* the first frame: the CIB as it is now */
    g_main_loop_run(loop);
    g_main_loop_unref(loop);
    loop = NULL;
    cib->cmds->set_connection_dnotify(cib, NULL);
    cib->cmds->signoff(cib);
    cib_delete(cib);
    return exit_status;
}
