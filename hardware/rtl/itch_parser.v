// itch_parser: frames the 2-byte length-prefixed ITCH 5.0 stream of an
// AXI-Stream input (any beat boundaries) and decodes the order-book and
// status messages.
//
// Input:  s_tdata/s_tkeep/s_tvalid/s_tready/s_tlast, DATA_BYTES bytes a beat,
//         lane 0 (s_tdata[7:0]) is the first byte of the beat; tkeep must be a
//         contiguous run of ones from lane 0 (any beat may be partial); tlast
//         ends a packet: a frame that is not complete at the end of its packet
//         is truncated (counted malformed and dropped), framing restarts with
//         the next packet.
// Output: one decoded message a cycle at most (valid/ready), for the types
//         A F E C X D U S H. Other well-formed ITCH 5.0 messages are dropped and
//         counted ("other"). Malformed frames (zero length, unknown type,
//         length not the type's length, A/F side not B/S, C printable not Y/N,
//         truncated at a packet end) are dropped and counted ("malformed").
//
// Buffer: the bytes in flight sit in a BUF_BYTES shift buffer, head at byte 0.
// A frame is consumed whole (one per cycle) once its 2+L bytes are present;
// frames longer than MAX_FRAME (no ITCH 5.0 message is) are skipped at
// DATA_BYTES a cycle. s_tready depends on registered state only
// (buffer space, and the end-of-packet marker clearing this cycle).
//
// Counters (32 bit, packed in `counters`, index i at [32*i +: 32]):
// 0 A, 1 F, 2 E, 3 C, 4 X, 5 D, 6 U, 7 S, 8 H, 9 other, 10 malformed.
module itch_parser #(
    parameter integer DATA_BYTES = 8,
    parameter integer BUF_BYTES  = DATA_BYTES + 64
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire [DATA_BYTES*8-1:0] s_tdata,
    input  wire [DATA_BYTES-1:0]   s_tkeep,
    input  wire                    s_tvalid,
    output wire                    s_tready,
    input  wire                    s_tlast,
    output reg                     m_valid,
    input  wire                    m_ready,
    output reg  [7:0]              m_type,
    output reg  [15:0]             m_locate,
    output reg  [47:0]             m_ts,
    output reg  [63:0]             m_ref,
    output reg  [63:0]             m_ref2,
    output reg                     m_buy,
    output reg  [31:0]             m_shares,
    output reg  [31:0]             m_price,
    output reg  [7:0]              m_code,
    output wire [11*32-1:0]        counters
);
    localparam integer MAX_FRAME = BUF_BYTES - DATA_BYTES;
    localparam integer CW = $clog2(BUF_BYTES + 1);
    localparam integer DECODE_BYTES = 40;  // bytes of a frame the decoder looks at
    localparam [16:0] MAXF17 = MAX_FRAME[16:0];
    localparam [CW-1:0] MAXFC = MAX_FRAME[CW-1:0];

    reg [BUF_BYTES*8-1:0] buff;
    reg [CW-1:0]          cnt;        // bytes held
    reg                   end_v;      // an end-of-packet marker is pending ...
    reg [CW-1:0]          end_pos;    // ... after this many bytes
    reg                   skip_v;     // skipping an over-long frame ...
    reg [16:0]            skip_rem;   // ... this many bytes still to drop
    reg [31:0]            cnt_type [0:10];

    // -- the head of the buffer, byte by byte
    wire [7:0] hb [0:DECODE_BYTES-1];
    genvar gi;
    generate
        for (gi = 0; gi < DECODE_BYTES; gi = gi + 1) begin : g_hb
            assign hb[gi] = buff[8*gi +: 8];
        end
        for (gi = 0; gi < 11; gi = gi + 1) begin : g_cnt
            assign counters[32*gi +: 32] = cnt_type[gi];
        end
    endgenerate

    function [7:0] itch_len;  // ITCH 5.0 message length by type, 0 = unknown type
        input [7:0] t;
        begin
            case (t)
                "S": itch_len = 8'd12;  "R": itch_len = 8'd39;  "H": itch_len = 8'd25;
                "Y": itch_len = 8'd20;  "L": itch_len = 8'd26;  "V": itch_len = 8'd35;
                "W": itch_len = 8'd12;  "K": itch_len = 8'd28;  "J": itch_len = 8'd35;
                "h": itch_len = 8'd21;  "A": itch_len = 8'd36;  "F": itch_len = 8'd40;
                "E": itch_len = 8'd31;  "C": itch_len = 8'd36;  "X": itch_len = 8'd23;
                "D": itch_len = 8'd19;  "U": itch_len = 8'd35;  "P": itch_len = 8'd44;
                "Q": itch_len = 8'd40;  "B": itch_len = 8'd19;  "I": itch_len = 8'd50;
                "N": itch_len = 8'd20;  "O": itch_len = 8'd48;
                default: itch_len = 8'd0;
            endcase
        end
    endfunction

    function [3:0] type_index;  // counter index of a decoded type
        input [7:0] t;
        begin
            case (t)
                "A": type_index = 4'd0;  "F": type_index = 4'd1;  "E": type_index = 4'd2;
                "C": type_index = 4'd3;  "X": type_index = 4'd4;  "D": type_index = 4'd5;
                "U": type_index = 4'd6;  "S": type_index = 4'd7;  "H": type_index = 4'd8;
                default: type_index = 4'd9;
            endcase
        end
    endfunction

    function [CW-1:0] popcount;
        input [DATA_BYTES-1:0] v;
        integer i;
        begin
            popcount = {CW{1'b0}};
            for (i = 0; i < DATA_BYTES; i = i + 1)
                popcount = popcount + {{(CW-1){1'b0}}, v[i]};
        end
    endfunction

    wire [15:0] flen16   = {hb[0], hb[1]};
    wire [16:0] flen     = {1'b0, flen16} + 17'd2;
    wire [7:0]  typ      = hb[2];
    wire [7:0]  exp_len  = itch_len(typ);
    wire        decoded  = (typ == "A") || (typ == "F") || (typ == "E") || (typ == "C") || (typ == "X") ||
                           (typ == "D") || (typ == "U") || (typ == "S") || (typ == "H");
    wire        bad_side = ((typ == "A") || (typ == "F")) && (hb[21] != "B") && (hb[21] != "S");
    wire        bad_prnt = (typ == "C") && (hb[33] != "Y") && (hb[33] != "N");
    wire [CW-1:0] lim    = end_v ? end_pos : cnt;  // bytes of the current packet present
    wire        out_free = !m_valid || m_ready;

    reg  [CW-1:0] k;           // bytes consumed this cycle
    reg           emit;        // a decoded message goes out
    reg           c_mal;
    reg           c_oth;
    reg           skip_n;
    reg  [16:0]   skip_rem_n;

    always @* begin
        k = {CW{1'b0}};
        emit = 1'b0;
        c_mal = 1'b0;
        c_oth = 1'b0;
        skip_n = skip_v;
        skip_rem_n = skip_rem;
        if (skip_v) begin
            if (skip_rem <= {{(17-CW){1'b0}}, lim}) begin
                k = skip_rem[CW-1:0];
                skip_n = 1'b0;
                c_mal = 1'b1;
            end else if (end_v) begin  // the packet ends inside the long frame
                k = end_pos;
                skip_n = 1'b0;
                c_mal = 1'b1;
            end else begin
                k = cnt;
                skip_rem_n = skip_rem - {{(17-CW){1'b0}}, cnt};
            end
        end else if (lim >= 2 && flen16 == 16'd0) begin
            k = 2;
            c_mal = 1'b1;
        end else if (lim >= 2 && flen > MAXF17) begin
            skip_n = 1'b1;            // longer than any ITCH 5.0 message: malformed
            skip_rem_n = flen;
        end else if (lim >= 2 && flen <= {{(17-CW){1'b0}}, lim}) begin
            if (exp_len == 8'd0 || {8'd0, exp_len} != flen16 || bad_side || bad_prnt) begin
                k = flen[CW-1:0];
                c_mal = 1'b1;
            end else if (decoded) begin
                if (out_free) begin
                    k = flen[CW-1:0];
                    emit = 1'b1;
                end
            end else begin
                k = flen[CW-1:0];
                c_oth = 1'b1;
            end
        end else if (end_v) begin     // an incomplete frame at the end of its packet
            k = end_pos;
            c_mal = (end_pos != {CW{1'b0}});
        end
    end

    assign s_tready = !rst && (cnt <= MAXFC) && (!end_v || end_pos == k);

    wire                  acc    = s_tvalid && s_tready;
    wire [CW-1:0]         nb     = popcount(s_tkeep);
    wire [CW-1:0]         rest   = cnt - k;
    reg  [DATA_BYTES*8-1:0] beat;
    integer bi;
    always @* begin
        for (bi = 0; bi < DATA_BYTES; bi = bi + 1)
            beat[8*bi +: 8] = s_tkeep[bi] ? s_tdata[8*bi +: 8] : 8'd0;
    end
    wire [BUF_BYTES*8-1:0] beat_ext = {{((BUF_BYTES-DATA_BYTES)*8){1'b0}}, beat};
    wire [BUF_BYTES*8-1:0] shifted  = buff >> (8 * k);
    wire [BUF_BYTES*8-1:0] appended = beat_ext << (8 * rest);

    integer ci;
    always @(posedge clk) begin
        if (rst) begin
            buff <= {(BUF_BYTES*8){1'b0}};
            cnt <= {CW{1'b0}};
            end_v <= 1'b0;
            end_pos <= {CW{1'b0}};
            skip_v <= 1'b0;
            skip_rem <= 17'd0;
            m_valid <= 1'b0;
            for (ci = 0; ci < 11; ci = ci + 1)
                cnt_type[ci] <= 32'd0;
        end else begin
            buff <= acc ? (shifted | appended) : shifted;
            cnt <= acc ? rest + nb : rest;
            skip_v <= skip_n;
            skip_rem <= skip_rem_n;
            if (acc && s_tlast) begin
                end_v <= 1'b1;
                end_pos <= rest + nb;
            end else if (end_v) begin
                end_pos <= end_pos - k;
                if (end_pos == k)
                    end_v <= 1'b0;
            end
            if (c_mal)
                cnt_type[10] <= cnt_type[10] + 32'd1;
            if (c_oth)
                cnt_type[9] <= cnt_type[9] + 32'd1;
            if (emit)
                cnt_type[type_index(typ)] <= cnt_type[type_index(typ)] + 32'd1;
            if (emit)
                m_valid <= 1'b1;
            else if (m_ready)
                m_valid <= 1'b0;
        end
    end

    // -- decoded fields (offsets: message offset + 2 for the length prefix)
    always @(posedge clk) begin
        if (emit) begin
            m_type   <= typ;
            m_locate <= {hb[3], hb[4]};
            m_ts     <= {hb[7], hb[8], hb[9], hb[10], hb[11], hb[12]};
            m_ref    <= {hb[13], hb[14], hb[15], hb[16], hb[17], hb[18], hb[19], hb[20]};
            m_ref2   <= {hb[21], hb[22], hb[23], hb[24], hb[25], hb[26], hb[27], hb[28]};
            m_buy    <= (hb[21] == "B");
            if (typ == "U")
                m_shares <= {hb[29], hb[30], hb[31], hb[32]};
            else if (typ == "A" || typ == "F")
                m_shares <= {hb[22], hb[23], hb[24], hb[25]};
            else
                m_shares <= {hb[21], hb[22], hb[23], hb[24]};
            if (typ == "U")
                m_price <= {hb[33], hb[34], hb[35], hb[36]};
            else
                m_price <= {hb[34], hb[35], hb[36], hb[37]};
            m_code   <= (typ == "S") ? hb[13] : hb[21];
        end
    end

    // Bytes of the buffer beyond DECODE_BYTES are only shifted, never decoded.
    wire unused_ok = &{1'b0, hb[5], hb[6], hb[38], hb[39]};
endmodule
