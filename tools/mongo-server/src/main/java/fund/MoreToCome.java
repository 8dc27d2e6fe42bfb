package fund;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.ByteToMessageDecoder;

/**
 * OP_MSG's moreToCome flag (bit 1) on a request means "do not answer". The Node driver sets it on the
 * endSessions it sends when a client closes; mongo-java-server 1.47 refuses every flag but the checksum
 * with an UnsupportedOperationException, which its exception handler logs with a stack trace before
 * closing the connection. So, in front of its decoder: the flag is cleared (the command runs as any
 * other) and the reply to that request is dropped instead of being sent, which is what the protocol
 * asks of a server.
 */
final class MoreToCome {

    private static final int OP_MSG = 2013;
    private static final int MORE_TO_COME = 1 << 1;
    private static final int HEADER_BYTES = 16;
    /** mongo-java-server's own largest message. */
    private static final int MAX_MESSAGE_BYTES = 48_000_000;

    /**
     * Puts the handlers in front of a connection's pipeline, once. Called from a command on the channel's event loop
     * (the handshake), when nothing of a next message is buffered yet, so the new decoder starts at a message boundary.
     */
    static void install(Channel channel) {
        ChannelPipeline pipeline = channel.pipeline();
        if (pipeline.get(Decoder.class) != null) return;
        Set<Integer> unanswered = ConcurrentHashMap.newKeySet();
        pipeline.addFirst("more-to-come-replies", new ReplyFilter(unanswered));
        pipeline.addFirst("more-to-come", new Decoder(unanswered));
    }

    /** Frames whole messages; an OP_MSG with moreToCome goes on without the flag, its request id remembered. */
    private static final class Decoder extends ByteToMessageDecoder {
        private final Set<Integer> unanswered;

        Decoder(Set<Integer> unanswered) {
            this.unanswered = unanswered;
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            while (in.readableBytes() >= 4) {
                int length = in.getIntLE(in.readerIndex());
                if (length < HEADER_BYTES || length > MAX_MESSAGE_BYTES) {
                    // Not a message this filter understands: step aside and let mongo-java-server's decoder refuse it.
                    ctx.pipeline().remove(this);
                    return;
                }
                if (in.readableBytes() < length) return;
                ByteBuf message = in.readRetainedSlice(length);
                if (message.getIntLE(12) == OP_MSG && length >= HEADER_BYTES + 4) {
                    int flags = message.getIntLE(HEADER_BYTES);
                    if ((flags & MORE_TO_COME) != 0) {
                        message.setIntLE(HEADER_BYTES, flags & ~MORE_TO_COME);
                        unanswered.add(message.getIntLE(4)); // requestID
                    }
                }
                out.add(message);
            }
        }
    }

    /** Drops the encoded reply whose responseTo is a request that asked for none. */
    private static final class ReplyFilter extends ChannelOutboundHandlerAdapter {
        private final Set<Integer> unanswered;

        ReplyFilter(Set<Integer> unanswered) {
            this.unanswered = unanswered;
        }

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
            if (msg instanceof ByteBuf reply && reply.readableBytes() >= HEADER_BYTES && !unanswered.isEmpty()
                    && unanswered.remove(reply.getIntLE(reply.readerIndex() + 8))) {
                reply.release();
                promise.setSuccess();
                return;
            }
            super.write(ctx, msg, promise);
        }
    }

    private MoreToCome() {
    }
}
